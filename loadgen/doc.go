// Package loadgen owns recgate's load generator: it plays the Asterisk side
// of FastAGI over loopback TCP (a connection per session, the environment
// block Asterisk 22 sends, one realistic reply per command) in closed and
// open loop, records latency in a bounded log-linear histogram, and carries
// the bare responder (BareServer) that gives the protocol's own limit for
// comparison. It also holds sessions open against a slow peer to measure a
// server's memory (Hold, ProcessRSS) and reads a server-side latency
// histogram from a Prometheus text exposition (ScrapeHistogram).
//
// Traffic goes to loopback addresses only (CheckLoopback); every loop is
// bounded in count and time and every connection has deadlines.
package loadgen
