// Package agi is recgate's FastAGI protocol layer and TCP server.
//
// It owns the connection to Asterisk: it parses the environment block into
// a Request, runs one Handler per session, and gives the handler a Session
// whose commands (GET/SET VARIABLE, EXEC, VERBOSE) are formatted and parsed
// with github.com/zaf/agi but travel through this package's wire filter.
// That filter neutralises zaf/agi's caveats: every read and write has a
// deadline, unsolicited HANGUP lines are dropped and remembered
// (Session.HungUp) instead of desynchronising the replies, multi-line 520
// replies are folded into one line, values are escaped, and line lengths
// and counts are bounded.
//
// The Server is shaped like net/http.Server (Serve, ListenAndServe,
// Shutdown, Close, ErrServerClosed) with an allow list, a cap on sessions
// that closes excess connections at once (Asterisk has no read timeout and
// would hold the call on a stalled server), per-session panic recovery and
// Prometheus metrics.
//
// The package knows nothing of rules, stores or recordings; recgate's gate
// package implements Handler. Package agitest is a fake Asterisk for tests.
package agi
