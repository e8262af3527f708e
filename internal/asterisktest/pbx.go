package asterisktest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Loopback addresses: the stations' phones and Asterisk use 127.0.0.1;
// the provider (trunk) uses 127.0.0.2, so that the trunk's type=identify
// (by IP) does not claim the phones, which authenticate like real ones.
const (
	PBXIP   = "127.0.0.1"
	TrunkIP = "127.0.0.2"
)

// Options says what the test Asterisk loads.
type Options struct {
	// Examples is the folder whose *.conf files are loaded as shipped
	// (relative to the module's root); default: dialplan-examples/.
	Examples string
	// RecgateAGI is recgate's FastAGI address (host:port), put in the
	// dialplan's [globals] RECGATE.
	RecgateAGI string
	// Globals sets other documented [globals] knobs, e.g.
	// RECGATE_DEFAULT=auto. RECGATE_FAILOPEN_DIR defaults to a directory
	// of the test's.
	Globals map[string]string
	// Files adds or replaces configuration files (name to content), after
	// the examples and the substitutions: a dialplan variant to compare.
	Files map[string]string
}

// PBX is a running test Asterisk.
type PBX struct {
	Lab *Lab
	// Dir holds etc/, spool/, log/ ...; removed when the test ends.
	Dir string
	// SIPPort is Asterisk's UDP SIP port on PBXIP.
	SIPPort int
	// AMIPort is the manager interface's TCP port on PBXIP.
	AMIPort int
	// TrunkPort is where Asterisk sends the provider's calls (on TrunkIP).
	TrunkPort int
	// FailOpenDir is where the dialplan's own fail-open recordings go.
	FailOpenDir string
	// Secrets are the shipped passwords by auth username (pjsip.conf).
	Secrets map[string]string
	// AMIUser and AMISecret are the shipped manager.conf account.
	AMIUser, AMISecret string

	phones map[string]int // station -> SIP port of its test phone
	conf   string         // asterisk.conf
	cmd    *exec.Cmd
	exited chan struct{}
	out    *bytes.Buffer
	outMu  *sync.Mutex
}

// Start runs an Asterisk for the test, configured from opts, and waits
// until it is fully booted. It is stopped (by PID if need be) and its
// directory removed when the test ends.
func Start(tb testing.TB, lab *Lab, opts Options) *PBX {
	tb.Helper()
	p, err := start(lab, opts)
	if p != nil {
		tb.Cleanup(func() {
			if tb.Failed() {
				tb.Logf("asterisk output (last 6000 bytes):\n%s", p.Output(30000))
			}
			p.Stop()
		})
	}
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func start(lab *Lab, opts Options) (*PBX, error) {
	if opts.Examples == "" || !filepath.IsAbs(opts.Examples) {
		root, err := ModuleRoot()
		if err != nil {
			return nil, err
		}
		if opts.Examples == "" {
			opts.Examples = "dialplan-examples"
		}
		opts.Examples = filepath.Join(root, opts.Examples)
	}
	// A short directory: Asterisk's control socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "rgpbx")
	if err != nil {
		return nil, fmt.Errorf("asterisktest: %w", err)
	}
	p := &PBX{Lab: lab, Dir: dir, phones: map[string]int{}, Secrets: map[string]string{}, out: &bytes.Buffer{}, outMu: &sync.Mutex{}}
	if err := p.configure(opts); err != nil {
		return p, err
	}
	if err := p.run(); err != nil {
		return p, err
	}
	return p, nil
}

// Phone returns the SIP port of station's test phone (its static contact);
// it panics for a station the examples do not define (a test's mistake).
func (p *PBX) Phone(station string) int {
	port, ok := p.phones[station]
	if !ok {
		panic("asterisktest: no test phone for station " + station)
	}
	return port
}

// Stations lists the stations that have a test phone.
func (p *PBX) Stations() []string {
	var s []string
	for k := range p.phones {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// SIPAddr is Asterisk's SIP address, host:port.
func (p *PBX) SIPAddr() string { return fmt.Sprintf("%s:%d", PBXIP, p.SIPPort) }

// AMIAddr is the manager interface's address, host:port.
func (p *PBX) AMIAddr() string { return fmt.Sprintf("%s:%d", PBXIP, p.AMIPort) }

func (p *PBX) configure(opts Options) error {
	etc := filepath.Join(p.Dir, "etc")
	data := filepath.Join(p.Dir, "data")
	for _, d := range []string{etc, data, "lib", "agi-bin", "spool", "run", "log", "cache", "failopen"} {
		if !filepath.IsAbs(d) {
			d = filepath.Join(p.Dir, d)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("asterisktest: %w", err)
		}
	}
	p.FailOpenDir = filepath.Join(p.Dir, "failopen")
	if err := os.Symlink(p.Lab.Documentation(), filepath.Join(data, "documentation")); err != nil {
		return fmt.Errorf("asterisktest: %w", err)
	}
	if _, err := os.Stat(SoundsDir); err == nil {
		if err := os.Symlink(filepath.Dir(SoundsDir), filepath.Join(data, "sounds")); err != nil {
			return fmt.Errorf("asterisktest: %w", err)
		}
	}

	files, err := filepath.Glob(filepath.Join(opts.Examples, "*.conf"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("asterisktest: no .conf files in %s", opts.Examples)
	}
	conf := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("asterisktest: %w", err)
		}
		conf[filepath.Base(f)] = string(b)
	}
	if err := p.substitute(conf, opts); err != nil {
		return err
	}
	for name, text := range opts.Files {
		conf[name] = text
	}
	conf["asterisk.conf"] = p.asteriskConf()
	conf["modules.conf"] = modulesConf
	conf["logger.conf"] = loggerConf
	conf["rtp.conf"] = rtpConf
	for name, text := range conf {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(text), 0o644); err != nil {
			return fmt.Errorf("asterisktest: %w", err)
		}
	}
	p.conf = filepath.Join(etc, "asterisk.conf")
	return nil
}

// substitute applies the documented knobs to the shipped files: recgate's
// address and the [globals] settings; the SIP port; a static contact (and
// no qualify: the test phones start per call) for every station; the
// provider's placeholder addresses; the manager port.
func (p *PBX) substitute(conf map[string]string, opts Options) error {
	base, err := FreePorts(3)
	if err != nil {
		return err
	}
	p.SIPPort, p.AMIPort, p.TrunkPort = base, base+1, base+2

	globals := map[string]string{"RECGATE_FAILOPEN_DIR": p.FailOpenDir}
	if opts.RecgateAGI != "" {
		globals["RECGATE"] = "agi://" + opts.RecgateAGI
	}
	for k, v := range opts.Globals {
		globals[k] = v
	}
	for k, v := range globals {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(k) + `=.*$`)
		found := false
		for name, text := range conf {
			if re.MatchString(text) {
				conf[name] = re.ReplaceAllLiteralString(text, k+"="+v)
				found = true
			}
		}
		if !found {
			return fmt.Errorf("asterisktest: no [globals] %s= line in the examples", k)
		}
	}

	pj, ok := conf["pjsip.conf"]
	if !ok {
		return errors.New("asterisktest: the examples have no pjsip.conf")
	}
	pj = regexp.MustCompile(`(?m)^bind=.*$`).ReplaceAllLiteralString(pj, fmt.Sprintf("bind=%s:%d", PBXIP, p.SIPPort))
	// The provider: registration to a closed port (it fails at once and
	// retries in a minute), calls to the trunk's test phone.
	dead, err := FreePorts(1)
	if err != nil {
		return err
	}
	pj = strings.ReplaceAll(pj, "server_uri=sip:sip.provider.example", fmt.Sprintf("server_uri=sip:%s:%d", TrunkIP, dead))
	pj = strings.ReplaceAll(pj, "@sip.provider.example", fmt.Sprintf("@%s:%d", TrunkIP, dead))
	pj = strings.ReplaceAll(pj, "contact=sip:sip.provider.example", fmt.Sprintf("contact=sip:%s:%d", TrunkIP, p.TrunkPort))
	pj = strings.ReplaceAll(pj, "sip.provider.example", TrunkIP)
	pj = strings.ReplaceAll(pj, "203.0.113.10", TrunkIP)
	pj = regexp.MustCompile(`(?m)^(qualify_frequency)=.*$`).ReplaceAllString(pj, "${1}=0")

	sections := sectionRE.FindAllStringSubmatchIndex(pj, -1)
	var out strings.Builder
	last := 0
	for i, m := range sections {
		name, template := pj[m[2]:m[3]], ""
		if m[4] >= 0 {
			template = pj[m[4]:m[5]]
		}
		end := len(pj)
		if i+1 < len(sections) {
			end = sections[i+1][0]
		}
		body := pj[m[1]:end]
		out.WriteString(pj[last:end])
		last = end
		switch {
		case template == "station-aor":
			port, err := FreePorts(1)
			if err != nil {
				return err
			}
			p.phones[name] = port
			fmt.Fprintf(&out, "; asterisktest: the test phone of station %s\ncontact=sip:%s@%s:%d\n\n", name, name, PBXIP, port)
		case template == "station-auth" || strings.Contains(body, "\ntype=auth"):
			user := confValue(body, "username")
			if user != "" {
				p.Secrets[user] = confValue(body, "password")
			}
		}
	}
	conf["pjsip.conf"] = out.String()

	if m, ok := conf["manager.conf"]; ok {
		m = regexp.MustCompile(`(?m)^port\s*=.*$`).ReplaceAllLiteralString(m, fmt.Sprintf("port = %d", p.AMIPort))
		m = regexp.MustCompile(`(?m)^bindaddr\s*=.*$`).ReplaceAllLiteralString(m, "bindaddr = "+PBXIP)
		conf["manager.conf"] = m
		for _, s := range sectionRE.FindAllStringSubmatchIndex(m, -1) {
			name := m[s[2]:s[3]]
			if name == "general" {
				continue
			}
			body := m[s[1]:]
			if i := strings.Index(body, "\n["); i >= 0 {
				body = body[:i]
			}
			p.AMIUser, p.AMISecret = name, confValue(body, "secret")
			break
		}
	} else {
		conf["manager.conf"] = fmt.Sprintf("[general]\nenabled = yes\nport = %d\nbindaddr = %s\n", p.AMIPort, PBXIP)
	}
	return nil
}

var sectionRE = regexp.MustCompile(`(?m)^\[([^\]]+)\](?:\(([^)!]*)\))?[^\n]*\n`)

// confValue is the last "key=value" (or "key = value") in a section body.
func confValue(body, key string) string {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + `\s*=\s*(.*?)\s*$`)
	ms := re.FindAllStringSubmatch(body, -1)
	if len(ms) == 0 {
		return ""
	}
	return ms[len(ms)-1][1]
}

func (p *PBX) asteriskConf() string {
	d := func(s string) string { return filepath.Join(p.Dir, s) }
	return fmt.Sprintf(`[directories]
astetcdir => %s
astmoddir => %s
astdatadir => %s
astvarlibdir => %s
astdbdir => %s
astkeydir => %s
astagidir => %s
astspooldir => %s
astrundir => %s
astlogdir => %s
astcachedir => %s
astsbindir => %s
[options]
verbose = 3
`, d("etc"), p.Lab.Modules(), d("data"), d("lib"), d("lib"), d("lib"), d("agi-bin"), d("spool"), d("run"), d("log"), d("cache"), filepath.Dir(p.Lab.Asterisk()))
}

// SoundsDir is where asterisk-core-sounds-en-wav installs the stock
// prompts; when present the test Asterisk plays them.
const SoundsDir = "/usr/share/asterisk/sounds/en"

// The modules recgate's call paths use (the lab's README), and nothing
// else: a missing one shows at once and the start takes about a second.
const modulesConf = `[modules]
autoload = no
load = res_pjproject.so
load = res_sorcery_config.so
load = res_sorcery_memory.so
load = res_sorcery_astdb.so
load = res_pjsip.so
load = res_pjsip_session.so
load = res_pjsip_authenticator_digest.so
load = res_pjsip_endpoint_identifier_ip.so
load = res_pjsip_endpoint_identifier_user.so
load = res_pjsip_registrar.so
load = res_pjsip_sdp_rtp.so
load = res_pjsip_dtmf_info.so
load = res_pjsip_caller_id.so
load = res_pjsip_outbound_registration.so
load = res_pjsip_outbound_authenticator_digest.so
load = res_pjsip_rfc3326.so
load = res_pjsip_pubsub.so
load = res_pjsip_dialog_info_body_generator.so
load = res_pjsip_outbound_publish.so
load = res_pjsip_exten_state.so
load = res_pjsip_logger.so
load = res_pjsip_one_touch_record_info.so
load = res_pjsip_refer.so
load = res_rtp_asterisk.so
load = chan_pjsip.so
load = res_agi.so
load = res_speech.so
load = app_mixmonitor.so
load = app_dial.so
load = app_queue.so
load = app_stack.so
load = app_playback.so
load = app_read.so
load = app_echo.so
load = app_milliwatt.so
load = app_senddtmf.so
load = app_verbose.so
load = app_exec.so
load = app_userevent.so
load = func_channel.so
load = func_strings.so
load = func_logic.so
load = func_callerid.so
load = func_cut.so
load = func_timeout.so
load = pbx_config.so
load = res_musiconhold.so
load = res_timing_timerfd.so
load = bridge_simple.so
load = bridge_softmix.so
load = bridge_native_rtp.so
load = bridge_holding.so
load = bridge_builtin_features.so
load = bridge_builtin_interval_features.so
load = codec_ulaw.so
load = codec_alaw.so
load = format_wav.so
load = format_pcm.so
load = res_manager_devicestate.so
`

const loggerConf = `[general]
[logfiles]
messages.log => notice,warning,error,verbose(3)
console => notice,warning,error,verbose(3)
`

// rtpConf keeps Asterisk's RTP ports away from the SIP and SIPp ports
// handed out by FreePorts (20000-29999).
const rtpConf = `[general]
rtpstart = 30000
rtpend = 39999
`

func (p *PBX) run() error {
	cmd := exec.Command(p.Lab.Asterisk(), "-C", p.conf, "-f", "-n")
	dieWithTest(cmd)
	w := &lockedWriter{mu: p.outMu, b: p.out}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("asterisktest: start asterisk: %w", err)
	}
	p.cmd = cmd
	p.exited = make(chan struct{})
	go func() { cmd.Wait(); close(p.exited) }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := p.CLI(ctx, "core waitfullybooted")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("asterisktest: asterisk exited at start: %s", p.Output(3000))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("asterisktest: asterisk not booted after 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CLI runs an Asterisk CLI command (asterisk -rx) and returns its output.
func (p *PBX) CLI(ctx context.Context, command string) (string, error) {
	out, err := exec.CommandContext(ctx, p.Lab.Asterisk(), "-C", p.conf, "-rx", command).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("asterisk -rx %q: %w: %s", command, err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// Output is the tail (up to n bytes) of Asterisk's log (messages.log),
// or of its console output when there is no log yet.
func (p *PBX) Output(n int) string {
	b, err := os.ReadFile(filepath.Join(p.Dir, "log", "messages.log"))
	if err != nil || len(b) == 0 {
		p.outMu.Lock()
		b = bytes.Clone(p.out.Bytes())
		p.outMu.Unlock()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Stop stops Asterisk (core stop now, then SIGKILL by PID after 5 s) and
// removes its directory.
func (p *PBX) Stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		select {
		case <-p.exited:
		default:
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			p.CLI(ctx, "core stop now")
			cancel()
			select {
			case <-p.exited:
			case <-time.After(5 * time.Second):
				p.cmd.Process.Kill()
				<-p.exited
			}
		}
	}
	os.RemoveAll(p.Dir)
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(b)
}

// ModuleRoot is the directory of the go.mod above the working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("asterisktest: no go.mod above the working directory")
		}
		dir = parent
	}
}
