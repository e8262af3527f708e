package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/recgate/recgate/loadgen"
	"github.com/recgate/recgate/rules"
)

// The bare responder runs in a process of its own, like recgate: both
// servers then pay the same process, scheduler and socket costs, and the
// generator's process is the same for both runs. Measuring the bare
// responder inside the generator's process would flatter it.

// startBareProcess runs `recgate bench-bare` as a child process and returns
// its address and a function that stops it.
func startBareProcess(ctx context.Context, mix, pushes, hangups loadgen.Mix) (addr string, stop func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("bare responder: %w", err)
	}
	args := []string{"bench-bare", "--commands", mix.String()}
	if pushes != (loadgen.Mix{}) {
		args = append(args, "--pushes", pushes.String())
	}
	if hangups != (loadgen.Mix{}) {
		args = append(args, "--hangup-commands", hangups.String())
	}
	cmd := exec.Command(self, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, fmt.Errorf("bare responder: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, fmt.Errorf("bare responder: %w", err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("bare responder: %w", err)
	}
	stop = func() {
		stdin.Close() // the child exits when its stdin closes
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(s)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case addr = <-line:
	case <-time.After(10 * time.Second):
		err = errors.New("bare responder did not start")
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil && addr == "" {
		err = errors.New("bare responder exited at start")
	}
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("bare responder: %w", err)
	}
	return addr, stop, nil
}

// newBenchBareCmd is the hidden child side of startBareProcess: it serves
// the bare responder on a loopback port, prints the address, and stops
// when its standard input closes.
func newBenchBareCmd(a *app) *cobra.Command {
	var commands, pushes, hangupCommands string
	cmd := &cobra.Command{
		Use:    "bench-bare",
		Short:  "The bare FastAGI responder recgate bench measures against (internal)",
		Hidden: true,
		Args:   noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mix, err := loadgen.ParseMix(commands)
			if err != nil {
				return rules.Errorf(rules.EINVALID, "bench-bare: --commands: %v", err)
			}
			var push, hang loadgen.Mix
			if pushes != "" {
				if push, err = loadgen.ParseMix(pushes); err != nil {
					return rules.Errorf(rules.EINVALID, "bench-bare: --pushes: %v", err)
				}
			}
			if hangupCommands != "" {
				if hang, err = loadgen.ParseMix(hangupCommands); err != nil {
					return rules.Errorf(rules.EINVALID, "bench-bare: --hangup-commands: %v", err)
				}
			}
			bare, addr, err := loadgen.ListenBare(cmd.Context(), mix, push, hang)
			if err != nil {
				return err
			}
			defer bare.Close()
			fmt.Fprintln(a.env.Stdout, addr)
			io.Copy(io.Discard, a.env.Stdin)
			return nil
		},
	}
	cmd.Flags().StringVar(&commands, "commands", "1", "commands per session: 3, 2.5 or 402/200 (a fraction spreads evenly)")
	cmd.Flags().StringVar(&pushes, "pushes", "", "sessions that push a hangup handler, as a fraction of all: 1/2 (default none)")
	cmd.Flags().StringVar(&hangupCommands, "hangup-commands", "", "commands per hangup session (default none)")
	return cmd
}
