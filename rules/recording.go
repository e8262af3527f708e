package rules

import "time"

// Trigger says what started a recording.
type Trigger string

// The recording triggers.
const (
	TriggerAuto     Trigger = "auto"     // started by decide because the mode was auto
	TriggerOnDemand Trigger = "ondemand" // started by the employee pressing *2
)

// RecordingState is where a recording is in its life.
type RecordingState string

// The recording states.
const (
	StateArmed        RecordingState = "armed"         // on-demand armed, *2 not pressed yet
	StateRecording    RecordingState = "recording"     // MixMonitor started, call not ended
	StateEnded        RecordingState = "ended"         // call ended, file kept
	StateNotActivated RecordingState = "not_activated" // armed, call ended without a *2 press
	StateRemoved      RecordingState = "removed"       // unanswered: header-only file removed
	StateDeleted      RecordingState = "deleted"       // removed by retention
)

// Recording is the metadata of one recording (or armed on-demand call) of
// one station's leg of a call.
type Recording struct {
	ID        int64          `json:"id"`
	UniqueID  string         `json:"uniqueid"`  // the station channel's UNIQUEID
	LinkedID  string         `json:"linkedid"`  // the call's LINKEDID
	Tenant    string         `json:"tenant"`    // the station's tenant at call setup; "" for an unknown station
	Station   string         `json:"station"`   // the station whose rule applied
	Direction Direction      `json:"direction"` // the call's direction
	Mode      Mode           `json:"mode"`      // the mode decided at call setup
	Trigger   Trigger        `json:"trigger,omitempty"`
	Rule      string         `json:"rule"` // which rule decided, e.g. "group:sales"
	File      string         `json:"file,omitempty"`
	CallerID  string         `json:"callerid,omitempty"`
	DID       string         `json:"did,omitempty"`
	Queue     string         `json:"queue,omitempty"`
	State     RecordingState `json:"state"`
	ArmedAt   *time.Time     `json:"armed_at,omitempty"`
	StartedAt *time.Time     `json:"started_at"`
	PressedAt *time.Time     `json:"pressed_at,omitempty"`
	EndedAt   *time.Time     `json:"ended_at"`
	Answered  *bool          `json:"answered"`
	DeletedAt *time.Time     `json:"deleted_at,omitempty"`
}
