// Command pulumi-language-python is a small Python language host for the Pulumi engine.
//
// The official host (module github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3) is not
// served by the Go module proxy this project can reach, so the toolchain builds this one instead. It speaks
// the same gRPC protocol (pulumirpc.LanguageRuntime from sdk/v3) and runs programs through the very same
// `pulumi-language-python-exec` script that ships inside the sdk/v3 module, so program semantics match.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Version is set at link time to the pinned Pulumi version.
var Version = "3.0.0"

// userActionableExit is the exit code the exec script uses after it printed an error for the user.
const userActionableExit = 32

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string
}

// python picks the interpreter: the project's virtualenv option, then PULUMI_PYTHON_CMD, then python3.
func python(info *pulumirpc.ProgramInfo) string {
	if info != nil && info.Options != nil {
		if venv, ok := info.Options.AsMap()["virtualenv"].(string); ok && venv != "" {
			if !filepath.IsAbs(venv) {
				venv = filepath.Join(info.RootDirectory, venv)
			}
			return filepath.Join(venv, "bin", "python")
		}
	}
	if cmd := os.Getenv("PULUMI_PYTHON_CMD"); cmd != "" {
		return cmd
	}
	return "python3"
}

// execScript is the runner script installed next to this binary by the toolchain setup.
func execScript() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	script := filepath.Join(filepath.Dir(self), "pulumi-language-python-exec")
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("runner script missing next to the language host: %w", err)
	}
	return script, nil
}

func (h *host) Handshake(_ context.Context, req *pulumirpc.LanguageHandshakeRequest) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engineAddress = req.EngineAddress
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: Version}, nil
}

// pluginScan lists the `pulumi-plugin.json` files of the installed distributions, the way Pulumi's Python
// packages declare the resource plugins they need. Reading every distribution's file list took 0.5 s of CPU on
// each preview and update, so the answer is kept in the environment (sys.prefix) with the modification times of
// the import path's directories: installing or removing a distribution changes its directory, and the scan runs
// again.
const pluginScan = `
import importlib.metadata as md, json, os, sys
key = [[p, os.stat(p).st_mtime_ns] for p in sys.path if p and os.path.isdir(p)]
cache = os.path.join(sys.prefix, ".pulumi-plugin-scan.json")
try:
    with open(cache) as fh:
        saved = json.load(fh)
    if saved["key"] == key:
        print(json.dumps(saved["plugins"]))
        sys.exit(0)
except (OSError, ValueError, KeyError, TypeError):
    pass
out = []
for dist in md.distributions():
    for f in dist.files or []:
        if f.name == "pulumi-plugin.json":
            try:
                data = json.loads(f.read_text())
            except Exception:
                continue
            if data.get("resource"):
                out.append({"name": data.get("name") or dist.metadata["Name"].removeprefix("pulumi_").removeprefix("pulumi-"),
                            "version": data.get("version") or dist.version, "server": data.get("server", "")})
try:
    tmp = f"{cache}.{os.getpid()}"
    with open(tmp, "w") as fh:
        json.dump({"key": key, "plugins": out}, fh)
    os.replace(tmp, cache)
except OSError:
    pass
print(json.dumps(out))
`

func requiredPackages(info *pulumirpc.ProgramInfo) ([]*pulumirpc.PackageDependency, error) {
	out, err := exec.Command(python(info), "-c", pluginScan).Output()
	if err != nil {
		return nil, fmt.Errorf("listing plugins of installed packages: %w", err)
	}
	var found []struct{ Name, Version, Server string }
	if err := json.Unmarshal(out, &found); err != nil {
		return nil, err
	}
	deps := make([]*pulumirpc.PackageDependency, 0, len(found))
	for _, p := range found {
		v := p.Version
		if v != "" && !strings.HasPrefix(v, "v") {
			v = "v" + v
		}
		deps = append(deps, &pulumirpc.PackageDependency{Name: p.Name, Kind: "resource", Version: v, Server: p.Server})
	}
	return deps, nil
}

func (h *host) GetRequiredPackages(_ context.Context, req *pulumirpc.GetRequiredPackagesRequest) (*pulumirpc.GetRequiredPackagesResponse, error) {
	deps, err := requiredPackages(req.Info)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: deps}, nil
}

func (h *host) GetRequiredPlugins(_ context.Context, req *pulumirpc.GetRequiredPluginsRequest) (*pulumirpc.GetRequiredPluginsResponse, error) {
	deps, err := requiredPackages(req.Info)
	if err != nil {
		return nil, err
	}
	plugins := make([]*pulumirpc.PluginDependency, 0, len(deps))
	for _, d := range deps {
		plugins = append(plugins, &pulumirpc.PluginDependency{Name: d.Name, Kind: d.Kind, Version: d.Version, Server: d.Server})
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: plugins}, nil
}

// runEnv passes the stack config the way the Python SDK reads it (PULUMI_CONFIG and its secret keys).
func runEnv(req *pulumirpc.RunRequest) ([]string, error) {
	config := req.Config
	if config == nil { // a stack without config: the SDK reads PULUMI_CONFIG as an object, `null` crashes it
		config = map[string]string{}
	}
	cfg, err := json.Marshal(config)
	if err != nil {
		return nil, err
	}
	keys := req.ConfigSecretKeys
	if keys == nil {
		keys = []string{}
	}
	secretKeys, err := json.Marshal(keys)
	if err != nil {
		return nil, err
	}
	return append(os.Environ(), "PULUMI_CONFIG="+string(cfg), "PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys)), nil
}

func runArgs(script string, req *pulumirpc.RunRequest, engine string) []string {
	program := req.Program
	root := req.Pwd
	if req.Info != nil {
		root = req.Info.RootDirectory
		program = req.Info.ProgramDirectory
		if req.Info.EntryPoint != "" && req.Info.EntryPoint != "." {
			program = filepath.Join(program, req.Info.EntryPoint)
		}
	}
	args := []string{"-u", script,
		"--project", req.Project, "--stack", req.Stack, "--pwd", req.Pwd,
		"--monitor", req.MonitorAddress, "--engine", engine,
		"--parallel", strconv.Itoa(int(req.Parallel)), "--dry_run", strconv.FormatBool(req.DryRun),
		"--organization", req.Organization, "--root_directory", root, program}
	return append(args, req.Args...)
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	script, err := execScript()
	if err != nil {
		return nil, err
	}
	env, err := runEnv(req)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, python(req.Info), runArgs(script, req, h.engineAddress)...)
	cmd.Env, cmd.Dir = env, req.Pwd
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return &pulumirpc.RunResponse{}, nil
	case errors.As(err, &exit) && exit.ExitCode() == userActionableExit:
		return &pulumirpc.RunResponse{Bail: true}, nil
	case errors.As(err, &exit):
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exit.ExitCode())}, nil
	default:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Problem executing program (could not run language executor): %v", err)}, nil
	}
}

// InstallDependencies installs the project into its interpreter: requirements.txt if present, else pyproject.toml.
func (h *host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest, srv pulumirpc.LanguageRuntime_InstallDependenciesServer) error {
	dir := req.Directory
	args := []string{"-m", "pip", "install", "-e", dir}
	if _, err := os.Stat(filepath.Join(dir, "requirements.txt")); err == nil {
		args = []string{"-m", "pip", "install", "-r", filepath.Join(dir, "requirements.txt")}
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(python(req.Info), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if err := srv.Send(&pulumirpc.InstallDependenciesResponse{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}); err != nil {
		return err
	}
	return runErr
}

func (h *host) RuntimeOptionsPrompts(context.Context, *pulumirpc.RuntimeOptionsRequest) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *host) About(_ context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	py := python(req.Info)
	out, err := exec.Command(py, "--version").Output()
	if err != nil {
		return nil, err
	}
	path, _ := exec.LookPath(py)
	return &pulumirpc.AboutResponse{Executable: path, Version: strings.TrimPrefix(strings.TrimSpace(string(out)), "Python ")}, nil
}

func (h *host) GetProgramDependencies(_ context.Context, req *pulumirpc.GetProgramDependenciesRequest) (*pulumirpc.GetProgramDependenciesResponse, error) {
	out, err := exec.Command(python(req.Info), "-m", "pip", "list", "--format", "json").Output()
	if err != nil {
		return nil, err
	}
	var pkgs []struct{ Name, Version string }
	if err := json.Unmarshal(out, &pkgs); err != nil {
		return nil, err
	}
	deps := make([]*pulumirpc.DependencyInfo, 0, len(pkgs))
	for _, p := range pkgs {
		deps = append(deps, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

func main() {
	// The engine passes its own address as the last positional argument; flags before it are tolerated.
	h := &host{}
	if n := len(os.Args); n > 1 {
		h.engineAddress = os.Args[n-1]
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "fatal: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "fatal: %v\n", err)
		os.Exit(1)
	}
}
