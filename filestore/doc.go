// Package filestore is a durable [eventlog.Store] kept in a directory: every
// acknowledged session, event and state survives restarts and crashes of a
// single-node deployment, with nothing but a directory.
//
// A file store is the in-memory store of package [memstore] with a journal:
// the memory store checks every condition, folds the state, and serves every
// read and watcher; the journal is the directory's log file. [Open] replays
// the file into the memory store; every record the memory store accepts is
// written to the file before anyone can see it, and acknowledged once it is
// as durable as the chosen [SyncPolicy] promises. Under SyncAlways, appends
// waiting for the disk at the same time are made durable by one fsync (group
// commit). Positions are stored with the records, so they stay the same
// across restarts and a subscriber can resume from the last one it saw.
//
// The directory holds the log file (records.log) and a LOCK file. Each
// record is a line of JSON framed with its length and a CRC-32C checksum
// (see [Magic] for the format), so the log reads as JSON lines to people
// and to other tools. A crash in the middle of a write leaves a torn last
// record, which Open cuts off and reports; damage anywhere else, or a
// record that cannot follow the ones before it, is [ErrCorrupt], naming the
// file and the offset, never a silent loss. [Verify] checks a log without
// changing it and reports every damaged stretch, reading past each to the
// next whole line; [Salvage] writes every record that can be kept into a
// new directory and reports exactly what it could not keep; [Compact] drops
// what deleted sessions no longer need. A
// store opened with Options.ReadOnly serves a snapshot of the log and
// refuses appends with [ErrReadOnly]. The command sessionlog
// (cmd/sessionlog) inspects, exports, imports, verifies, salvages and
// compacts a log from the shell.
package filestore
