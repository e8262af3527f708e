package web

import "strconv"

// register adds every operation of the API. Each one names its access
// level (routes.go), which authorize enforces before the handler runs.
func (s *Server) register() {
	s.registerAuth()
	s.registerTenants()
	s.registerStations()
	s.registerGroups()
	s.registerRecordings()
	s.registerLogs()
	s.registerAccounts()
	s.registerGDPR() // gdpr.go
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
