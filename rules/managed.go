package rules

// RulesFileManaged is the check every writer of rules (the CLI's verbs, the
// HTTP API, the panel) makes before it changes them: with a rules file
// configured (rulesFile, as written in the configuration), that file is the
// source of truth, and a change made elsewhere would be silently undone the
// next time the file is applied. It returns nil when no rules file is set,
// else an ECONFLICT error naming the file; a writer that offers an explicit
// override says how in its own words.
func RulesFileManaged(rulesFile string) error {
	if rulesFile == "" {
		return nil
	}
	return Errorf(ECONFLICT, "the rules are managed by rules_file %s: a change made here would be undone when that file is next applied; edit the file instead", rulesFile)
}
