package otelstore

// IsUnsetGlobal exposes isUnsetGlobal to the tests.
var IsUnsetGlobal = isUnsetGlobal
