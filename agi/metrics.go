package agi

import "github.com/prometheus/client_golang/prometheus"

// Session results, the result label of recgate_agi_sessions_total.
const (
	resultOK       = "ok"        // the handler returned nil
	resultError    = "error"     // the handler returned any other error
	resultHangup   = "hangup"    // the peer went away or the channel was dead
	resultBadInput = "bad_input" // malformed or hostile input
	resultTimeout  = "timeout"   // a read, write or the handler's context timed out
	resultPanic    = "panic"     // the handler panicked
)

// Reasons a connection is refused, the reason label of
// recgate_rejected_connections_total.
const (
	rejectNotAllowed  = "not_allowed"  // peer outside the allow list
	rejectMaxSessions = "max_sessions" // MaxSessions sessions already running
)

// requestOther is the request label of scripts the server was not told of.
const requestOther = "other"

var allResults = []string{resultOK, resultError, resultHangup, resultBadInput, resultTimeout, resultPanic}

// Metrics are the FastAGI server's Prometheus metrics. Build them with
// NewMetrics; a nil *Metrics records nothing.
type Metrics struct {
	// SessionsActive is recgate_agi_sessions_active.
	SessionsActive prometheus.Gauge
	// Sessions is recgate_agi_sessions_total{request,result}.
	Sessions *prometheus.CounterVec
	// Rejected is recgate_rejected_connections_total{reason}.
	Rejected *prometheus.CounterVec
}

// NewMetrics creates the server metrics and registers them with reg (never
// pass the global default registry from library code). Like promauto, it
// panics if reg already holds metrics of the same names: that is a wiring
// bug, not a runtime condition.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		SessionsActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "recgate_agi_sessions_active",
			Help: "FastAGI sessions being served now.",
		}),
		Sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "recgate_agi_sessions_total",
			Help: "FastAGI sessions served, by request path (bounded set, else other) and result.",
		}, []string{"request", "result"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "recgate_rejected_connections_total",
			Help: "FastAGI connections closed at once, by reason (not_allowed, max_sessions).",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.SessionsActive, m.Sessions, m.Rejected)
	m.Rejected.WithLabelValues(rejectNotAllowed)
	m.Rejected.WithLabelValues(rejectMaxSessions)
	m.initRequests(nil)
	return m
}

// initRequests makes every request×result series exist at 0.
func (m *Metrics) initRequests(requests []string) {
	if m == nil {
		return
	}
	for _, res := range allResults {
		m.Sessions.WithLabelValues(requestOther, res)
		for _, req := range requests {
			m.Sessions.WithLabelValues(req, res)
		}
	}
}

func (m *Metrics) sessionStarted() {
	if m != nil {
		m.SessionsActive.Inc()
	}
}

func (m *Metrics) sessionDone(request, result string) {
	if m != nil {
		m.SessionsActive.Dec()
		m.Sessions.WithLabelValues(request, result).Inc()
	}
}

func (m *Metrics) rejected(reason string) {
	if m != nil {
		m.Rejected.WithLabelValues(reason).Inc()
	}
}
