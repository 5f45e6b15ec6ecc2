// Package filestore is a durable [eventlog.Store] kept in a directory: every
// acknowledged session, event and state survives restarts and crashes of a
// single-node deployment, with nothing but a directory.
//
// The directory holds one append-only log file (records.log) and a LOCK
// file. Each record is a line of JSON framed with its length and a CRC-32C
// checksum (see [Magic] for the format), so the log reads as JSON lines to
// people and to other tools. [Open] replays the file into an in-memory
// index ([eventlog.Memory]) that serves every read, condition and
// subscription; every append is written to the file before anyone can see
// it, and acknowledged once it is as durable as the chosen [SyncPolicy]
// promises. Positions are stored with the records, so they stay the same
// across restarts and a subscriber can resume from the last one it saw.
//
// A crash in the middle of a write leaves a torn last record, which Open
// cuts off and reports; damage anywhere else is [ErrCorrupt], naming the
// file and the offset, never a silent loss. [Verify] checks a log without
// changing it, and [Compact] drops what deleted sessions no longer need.
// The command sessionlog (cmd/sessionlog) inspects, exports, imports,
// verifies and compacts a log from the shell.
package filestore
