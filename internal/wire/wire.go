// Package wire is berthd's composition root: it builds every service in one
// visible order (no init() registration) and runs the daemon until its
// context ends.
//
// Start order, each step undone in reverse on failure or shutdown:
//
//	data root + exec root dirs -> data-root lock -> pidfile
//	-> storage driver -> layer store -> image store
//	-> monitor (dial, or spawn `berthd monitor`) -> engine -> engine.Restore
//	-> API listeners -> serve
//
// Shutdown (SIGTERM) stops the listeners, lets ordinary requests finish,
// ends streams, and stops watching containers; containers and the monitor
// keep running (live restore).
package wire

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	units "github.com/docker/go-units"
	"github.com/sirupsen/logrus"

	"github.com/berth-dev/berth/internal/apiserver"
	"github.com/berth-dev/berth/internal/builder"
	"github.com/berth-dev/berth/internal/config"
	"github.com/berth-dev/berth/internal/diskusage"
	"github.com/berth-dev/berth/internal/distribution"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/events"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/layer"
	"github.com/berth-dev/berth/internal/monitor"
	"github.com/berth-dev/berth/internal/network"
	"github.com/berth-dev/berth/internal/ocispec"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/linux"
	"github.com/berth-dev/berth/internal/runtime/ocicli"
	seccompprofile "github.com/berth-dev/berth/internal/seccomp/profile"
	"github.com/berth-dev/berth/internal/storage/drivers"
	"github.com/berth-dev/berth/internal/version"
	"github.com/berth-dev/berth/internal/volume"
)

// MonitorRuntimes resolves a CreateRequest's runtime inside the monitor:
// "berth" is the built-in runtime; anything else is the path of a
// runc-compatible binary, whose state lives under
// <exec-root>/runtime/<basename>.
func MonitorRuntimes(execRoot string) monitor.RuntimeFunc {
	return func(name string, args []string) (runtime.Runtime, error) {
		if name == "" || name == engine.BuiltinRuntime {
			return linux.New(linux.Options{}), nil
		}
		if !filepath.IsAbs(name) {
			return nil, fmt.Errorf("runtime %q: not an absolute path", name)
		}
		base := filepath.Base(name)
		return ocicli.New(base, name, filepath.Join(execRoot, "runtime", base), args), nil
	}
}

// Run runs berthd until ctx ends.
func Run(ctx context.Context, cfg *config.Config) (err error) {
	var undo []func()
	defer func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}()
	for _, d := range []string{cfg.DataRoot, cfg.ExecRoot} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	if err := prepareRemap(cfg); err != nil {
		return err
	}
	release, err := lockDataRoot(cfg.DataRoot)
	if err != nil {
		return err
	}
	undo = append(undo, release)
	rmPid, err := writePidfile(cfg.Pidfile)
	if err != nil {
		return err
	}
	undo = append(undo, rmPid)

	driver, err := drivers.New(cfg.StorageDriver, cfg.DataRoot)
	if err != nil {
		return fmt.Errorf("storage driver %s: %w", cfg.StorageDriver, err)
	}
	layers, err := layer.NewStore(cfg.DataRoot, driver)
	if err != nil {
		return err
	}
	images, err := image.NewStore(cfg.DataRoot, layers)
	if err != nil {
		return err
	}
	buildCache, err := openBuildCache(cfg.DataRoot, images)
	if err != nil {
		return err
	}
	undo = append(undo, func() { buildCache.Close() })
	registry, err := distribution.NewService(distribution.Config{
		Mirrors: cfg.Mirrors, Insecure: cfg.InsecureRegistries, CertsDir: "/etc/docker/certs.d",
	}, images, cfg.DataRoot)
	if err != nil {
		return err
	}

	bus, err := events.NewBus(events.BusConfig{Dir: filepath.Join(cfg.DataRoot, "events")})
	if err != nil {
		return err
	}
	undo = append(undo, func() { bus.Close() })

	localVolumes, err := volume.NewLocal(filepath.Join(cfg.DataRoot, "volumes"))
	if err != nil {
		return err
	}
	if !cfg.Remap.Empty() {
		localVolumes.SetRootOwner(cfg.Remap.Root())
	}
	volumes := volume.NewService(logrus.StandardLogger(), localVolumes)
	volumes.SetPublisher(bus)

	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	mon, err := monitor.Ensure(ctx, cfg.ExecRoot, cfg.DataRoot, self)
	if err != nil {
		return fmt.Errorf("start monitor: %w", err)
	}
	undo = append(undo, func() { mon.Close() })

	logDefaults, err := logDefaults(cfg.LogOpts)
	if err != nil {
		return err
	}
	runtimes := map[string]string{}
	for name, r := range cfg.AllRuntimes(exec.LookPath) {
		runtimes[name] = r.Path
	}
	var addrPools []network.AddressPool
	for _, p := range cfg.Network.AddressPools {
		addrPools = append(addrPools, network.AddressPool{Base: p.BasePrefix(), Size: p.Size})
	}
	nets, err := network.New(network.Config{
		DataRoot: cfg.DataRoot, ExecRoot: cfg.ExecRoot,
		DefaultBridge: cfg.Network.Bridge != "none", BridgeIP: cfg.Network.BridgeIP(),
		MTU: cfg.Network.MTU, IPForward: cfg.Network.IPForward, IPTables: cfg.Network.IPTables,
		IPv6: cfg.Network.IPv6, FixedCIDRv6: cfg.Network.FixedCIDRv6Prefix(), IP6Tables: cfg.Network.IP6Tables,
		AddressPools: addrPools,
		Logger:       logrus.StandardLogger(),
	})
	if err != nil {
		return fmt.Errorf("networks: %w", err)
	}
	undo = append(undo, nets.Close)
	seccompDefault, err := seccompprofile.LoadDefault(cfg.SeccompProfile)
	if err != nil {
		return err
	}
	eng, err := engine.New(engine.Config{
		DataRoot:       cfg.DataRoot,
		ExecRoot:       cfg.ExecRoot,
		DefaultRuntime: cfg.DefaultRuntime,
		Runtimes:       runtimes,
		CgroupParent:   cfg.CgroupParent,
		LogDefaults:    logDefaults,
		StorageDriver:  driver.Name(),
		// Docker's default seccomp profile, --security-opt seccomp=...
		// and --init (berthd itself as /sbin/docker-init).
		SpecOpts:        []ocispec.SpecOpt{seccompDefault.SpecOpt(), ocispec.WithInit(initBinary(), cfg.Init)},
		SecurityOptions: securityOptions(seccompDefault.SecurityOption(), cfg),
		Remap:           cfg.Remap.IDMap,
		Registry:        registry.Resolver().ServiceConfig(),
		Images:          images,
		ImageCounter:    images,
		Layers:          layers,
		Monitor:         mon,
		Volumes:         volumes,
		Networks:        nets,
		Logger:          logrus.StandardLogger(),
		Events:          bus,
	})
	if err != nil {
		return err
	}
	undo = append(undo, func() { eng.Close() })
	if err := remapContainersDir(cfg); err != nil {
		return err
	}
	images.SetInUse(eng.ImageUser)
	// The classic builder: RUN steps are engine containers, COPY writes
	// into work layers; contexts unpack in a tmpfs of each build's under
	// <data-root>/builder/mem, big ones under <data-root>/builder/tmp.
	classic, berr := builder.New(builder.Config{
		Backend: engine.NewBuildBackend(eng, images, layers),
		Cache:   buildCache,
		TmpDir:  filepath.Join(cfg.DataRoot, "builder", "tmp"),
		MemDir:  filepath.Join(cfg.DataRoot, "builder", "mem"),
	})
	if berr != nil {
		logrus.WithError(berr).Warn("builder")
	}
	undo = append(undo, func() { classic.Close() })
	images.SetPublisher(bus)
	buildCache.SetPublisher(bus)
	if err := eng.Restore(ctx); err != nil {
		return fmt.Errorf("restore containers: %w", err)
	}
	if err := nets.Restore(ctx, eng.IsRunning); err != nil {
		return fmt.Errorf("restore networks: %w", err)
	}

	tlsConfig, err := cfg.ServerTLSConfig()
	if err != nil {
		return err
	}
	srv := apiserver.New(apiserver.Config{Version: version.Version, TLSConfig: tlsConfig}, apiserver.Backends{
		Containers: eng, Images: images, Registry: registry, System: &diskusage.Service{Backend: eng, Images: images, Layers: layers, Containers: eng, Volumes: volumes, BuildCache: buildCache}, Events: bus, Exec: eng, Volumes: volumes, Networks: eng,
		Build: buildBackend{classic}, BuildCache: buildCache,
	})
	listeners, err := srv.Listen(cfg.Hosts...)
	if err != nil {
		return err
	}
	roListeners, err := srv.ListenReadOnly(cfg.ReadOnlyListeners...)
	if err != nil {
		for _, l := range listeners {
			l.Close()
		}
		return err
	}
	listeners = append(listeners, roListeners...)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(listeners...) }()
	logrus.WithFields(logrus.Fields{"data-root": cfg.DataRoot, "hosts": cfg.Hosts, "driver": driver.Name()}).Info("berthd ready")

	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil {
			return err
		}
	}
	logrus.Info("berthd shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// logDefaults turns the daemon's json-file log-opts into engine defaults.
func logDefaults(opts map[string]string) (engine.LogDefaults, error) {
	d := engine.DefaultLogDefaults
	if s, ok := opts["max-size"]; ok {
		n, err := units.RAMInBytes(s)
		if err != nil {
			return d, fmt.Errorf("log-opt max-size=%s: %w", s, err)
		}
		d.MaxSize = n
	}
	if s, ok := opts["max-file"]; ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return d, fmt.Errorf("log-opt max-file=%s: must be a positive integer", s)
		}
		d.MaxFiles = n
	}
	return d, nil
}
