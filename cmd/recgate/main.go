// Command recgate is the call-recording decision server for Asterisk and
// its operators' CLI: `recgate serve` runs the FastAGI server; the other
// verbs edit and inspect rules, recordings and the audit log.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/recgate/recgate/rules"
)

// Set by the linker (see Makefile).
var (
	version  = "dev"
	revision = "unknown"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(Run(ctx, os.Args[1:], Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Environ: os.Environ()}))
}

// Env is the process environment a command runs in; tests supply their own.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Environ        []string
}

// Exit statuses by error code.
const (
	exitOK          = 0
	exitInternal    = 1
	exitInvalid     = 2
	exitNotFound    = 3
	exitConflict    = 4
	exitUnavailable = 5
)

// Run executes the command line args and returns the exit status. Errors
// are printed as one line on stderr.
func Run(ctx context.Context, args []string, env Env) int {
	root := newRootCmd(&env)
	root.SetArgs(args)
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(env.Stderr, "recgate: %s\n", errorLine(err))
	return exitCode(err)
}

// errorLine is the one line an operator sees: for a refusal (invalid, not
// found, conflict) the message meant for them, without the layers of
// operation context that wrapped it; anything else in full.
func errorLine(err error) string {
	var e *rules.Error
	if errors.As(err, &e) {
		switch e.Code {
		case rules.EINVALID, rules.ENOTFOUND, rules.ECONFLICT:
			return e.Message
		}
	}
	return err.Error()
}

func exitCode(err error) int {
	var usage *usageError
	if errors.As(err, &usage) {
		return exitInvalid
	}
	switch rules.ErrorCode(err) {
	case rules.EINVALID:
		return exitInvalid
	case rules.ENOTFOUND:
		return exitNotFound
	case rules.ECONFLICT:
		return exitConflict
	case rules.EUNAVAILABLE:
		return exitUnavailable
	}
	return exitInternal
}

// usageError is a command line that cobra could not parse.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// app carries what every subcommand needs: where its configuration comes
// from and its I/O.
type app struct {
	env        *Env
	configFlag string   // --config, "" when not given
	search     []string // the files looked at without --config and RECGATE_CONFIG
	configPath string   // the file config() read
}

// config finds the configuration file (FindConfig) and loads it.
func (a *app) config() (*Config, error) {
	path, err := FindConfig(a.configFlag, a.env.Environ, a.search)
	if err != nil {
		return nil, rules.Errorf(rules.EINVALID, "%v", err)
	}
	a.configPath = path
	cfg, err := LoadConfig(path, a.env.Environ)
	if err != nil {
		return nil, rules.Errorf(rules.EINVALID, "%v", err)
	}
	return cfg, nil
}

func newRootCmd(env *Env) *cobra.Command {
	a := &app{env: env, search: DefaultConfigPaths()}
	root := &cobra.Command{
		Use:           "recgate",
		Short:         "Call-recording decisions for Asterisk over FastAGI",
		Version:       versionLine(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentFlags().StringVar(&a.configFlag, "config", "",
		"configuration file (YAML); default: $"+ConfigEnv+", else the first of "+strings.Join(a.search, ", "))
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	requireSubcommand(root)
	root.AddCommand(
		newServeCmd(a),
		newRulesCmd(a),
		newExplainCmd(a),
		newStationCmd(a),
		newGroupCmd(a),
		newTenantCmd(a),
		newRuleCmd(a),
		newProfilesCmd(a),
		newRecordingsCmd(a),
		newAuditCmd(a),
		newRetentionCmd(a),
		newUserCmd(a),
		newTokenCmd(a),
		newBenchCmd(a),
		newBenchBareCmd(a),
		newTestcallCmd(a),
		newInitCmd(a),
		newVersionCmd(a),
	)
	return root
}

// requireSubcommand makes a command that only groups others refuse to run
// on its own or with an unknown subcommand, with a usage error (exit 2)
// naming the valid ones, instead of printing help and exiting 0.
func requireSubcommand(cmd *cobra.Command) *cobra.Command {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(c *cobra.Command, args []string) error {
		var names []string
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		if len(args) == 0 {
			return &usageError{fmt.Errorf("%s needs a subcommand: %s", c.CommandPath(), strings.Join(names, ", "))}
		}
		return &usageError{fmt.Errorf("unknown command %q for %s (valid: %s)", args[0], c.CommandPath(), strings.Join(names, ", "))}
	}
	return cmd
}

// defaultActor is the OS user, recorded in the audit log.
func defaultActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if s := os.Getenv("USER"); s != "" {
		return s
	}
	return "unknown"
}
