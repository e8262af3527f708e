package gate

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/recgate/recgate/rules"
)

// Metrics are the decision metrics of SPEC 7.3 that the handler owns.
type Metrics struct {
	Decisions         *prometheus.CounterVec // recgate_decisions_total{direction,mode,rule_source}
	DecisionDuration  prometheus.Histogram   // recgate_decision_duration_seconds
	OnDemand          *prometheus.CounterVec // recgate_ondemand_activations_total{result}
	RecordingsStarted *prometheus.CounterVec // recgate_recordings_started_total{direction,trigger}
	StoreErrors       *prometheus.CounterVec // recgate_store_errors_total{op}
	Unclassified      prometheus.Counter     // recgate_unclassified_calls_total
	CallsEvicted      prometheus.Counter     // recgate_live_calls_evicted_total
}

// Label values used by the handler's metrics. They are bounded: never a
// caller id, channel name or uniqueid.
const (
	DirectionUnclassified = "unclassified" // direction label of calls that could not be classified
	DecisionError         = "error"        // mode label and RECGATE_DECISION when a decision failed

	OnDemandStarted          = "started"
	OnDemandAlreadyRecording = "already_recording"
	OnDemandNotArmed         = "not_armed"
	OnDemandNotAllowed       = "not_allowed"
	OnDemandError            = "error"

	StoreOpRules      = "rules"
	StoreOpRecordings = "recordings"
)

// NewMetrics creates the handler's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "recgate_decisions_total",
			Help: "Recording decisions made at call setup, by direction, mode and the rule level that decided.",
		}, []string{"direction", "mode", "rule_source"}),
		DecisionDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "recgate_decision_duration_seconds",
			Help: "Time from the AGI environment received to the last command of a decide session answered.",
			Buckets: []float64{50e-6, 100e-6, 200e-6, 300e-6, 500e-6, 750e-6,
				1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1},
		}),
		OnDemand: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "recgate_ondemand_activations_total",
			Help: "On-demand (*2) presses, by outcome.",
		}, []string{"result"}),
		RecordingsStarted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "recgate_recordings_started_total",
			Help: "MixMonitor recordings started, by direction and trigger.",
		}, []string{"direction", "trigger"}),
		StoreErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "recgate_store_errors_total",
			Help: "Store operations that failed, by operation.",
		}, []string{"op"}),
		Unclassified: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "recgate_unclassified_calls_total",
			Help: "Calls whose direction could not be classified; the fallback mode applied.",
		}),
		CallsEvicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "recgate_live_calls_evicted_total",
			Help: "Live calls forgotten from memory without their hangup: over the cap of tracked calls, or older than a day.",
		}),
	}
	reg.MustRegister(m.Decisions, m.DecisionDuration, m.OnDemand, m.RecordingsStarted, m.StoreErrors, m.Unclassified, m.CallsEvicted)
	for _, r := range []string{OnDemandStarted, OnDemandAlreadyRecording, OnDemandNotArmed, OnDemandNotAllowed, OnDemandError} {
		m.OnDemand.WithLabelValues(r)
	}
	for _, d := range rules.AllDirections() {
		for _, t := range []rules.Trigger{rules.TriggerAuto, rules.TriggerOnDemand} {
			m.RecordingsStarted.WithLabelValues(string(d), string(t))
		}
	}
	for _, op := range []string{StoreOpRules, StoreOpRecordings} {
		m.StoreErrors.WithLabelValues(op)
	}
	// Every decision series at 0 from the start, so rate() and absent()
	// see them before the first call. An unclassified call is decided by
	// the fallback only.
	modes := []string{string(rules.Off), string(rules.Auto), string(rules.OnDemand), DecisionError}
	for _, mode := range modes {
		for _, d := range rules.AllDirections() {
			for _, src := range []rules.Source{rules.SourceStation, rules.SourceGroup, rules.SourceTenant, rules.SourceDefault, rules.SourceFallback} {
				m.Decisions.WithLabelValues(string(d), mode, string(src))
			}
		}
		m.Decisions.WithLabelValues(DirectionUnclassified, mode, string(rules.SourceFallback))
	}
	return m
}
