// Package deps starts the lab's real dependencies (Redis, etcd) in
// containers or as local processes, and lets the caller break them: freeze,
// kill, stop and start again on the same address. It also runs gatelab
// gateway nodes in containers, to partition them from each other. The lab (no testing.T)
// and the test helpers internal/redistest and internal/etcdtest share it.
//
//	r, err := deps.StartRedis(ctx, deps.RedisOptions{})
//	if errors.Is(err, deps.ErrUnavailable) { /* skip what needs Redis, report err */ }
//	defer r.Close()
//	r.Freeze(ctx) // the server stops answering (connections still accepted)
//	r.Thaw(ctx)
//	r.Kill(ctx)    // connections are refused
//	r.Restart(ctx) // a fresh, empty server on the same address
//
// # Images without a registry
//
// Image is a reusable local image builder, for any binary: given a
// name:tag, host binaries, extra files and an entrypoint and command, it
// writes a root filesystem holding the binaries, every shared library ldd
// lists for them and the dynamic loader (directories that are symbolic
// links on the host, such as /lib -> usr/lib, become the same links), a
// minimal /etc/passwd and /etc/group and a world-writable /tmp, and imports
// it through the Docker API as `docker import` does. The image carries a
// digest of everything it is made of (LabelImageSum): Ensure reuses an image
// whose digest matches, rebuilds one that does not (the host binary was
// upgraded), builds at most once per process and reference, and takes a
// machine-wide lock file so that concurrent processes build it once.
// RedisImage (from the Debian redis-server) and EtcdImage (from the Debian
// etcd) are two such images; GatelabImage packages a gatelab binary (a
// File with Libs set: the executable at a fixed path, its libraries at
// their host paths), and an upstream or a peer gateway can be packaged the
// same way.
//
// # Strategies
//
// StartRedis, ModeAuto: if Docker answers testcontainers' health check, a
// container (testcontainers-go's Redis module) from, in order: the image
// asked for (RedisOptions.Image, else $GATELAB_REDIS_IMAGE, else
// DefaultRedisImage) if Docker has it; RedisLocalImage if it was built
// before (from then on no pull is tried: remove it to try the registry
// again); the image asked for if it can be pulled; RedisLocalImage built
// now. If no image is usable, or Docker is not reachable, a redis-server
// process on a free loopback port (started through harness/fleet: its own
// process group, killed if this process dies). Neither: an error wrapping
// ErrUnavailable with every reason. ModeDocker and ModeProcess force one
// strategy; RedisOptions.Mode "" reads $GATELAB_REDIS_MODE.
//
// StartEtcd, ModeAuto: the host's etcd as a process if there is one, else a
// container (EtcdOptions.Image, $GATELAB_ETCD_IMAGE or DefaultEtcdImage,
// falling back to EtcdLocalImage as for Redis). ModeDocker forces the
// container, which then uses EtcdLocalImage on a machine without registry.
//
// Redis and etcd containers: the one served port is published on 127.0.0.1 at a host port
// picked here and fixed in the container's port binding, so a container
// started again serves the same address. The Ryuk reaper is disabled
// (TESTCONTAINERS_RYUK_DISABLED=true unless set), since its image cannot be
// pulled without a registry; containers are labelled with this host's name
// and this process's pid (LabelOwner, LabelHost, LabelPID), removed by Close,
// and the first DockerAvailable of a later process removes those whose
// process is gone (containers first, then networks).
//
// # Gateway nodes
//
// StartGatelabNodes runs N "gatelab serve -limiter crdt" nodes in
// containers so that a scenario can partition one of them for real. Each
// call makes two networks: "traffic", a bridge whose containers cannot
// reach each other (inter-container traffic off), through which each
// node's traffic (8080) and admin (9090) ports are published on 127.0.0.1
// at ports Docker picks; and "gossip", an internal bridge on a /24 of
// 10.213.0.0/16 that no Docker network or host interface uses, where node
// nI binds memberlist at 10.213.x.(10+I):7946 with every other node as a
// seed peer. The config directory is mounted read-only at /cfg (paths in
// the config point there). Partition(i) disconnects node i from the gossip
// network only: requests from the host keep reaching it while it and the
// others see each other leave; Heal(i) connects it again at the same IP
// (its memberlist socket stays bound). A node is ready once its output
// shows "gatelab serving on" (the followed log stream, no polling) and
// /readyz answers 200 through the published admin port. Networks carry
// the same owner, host and pid labels as containers and a LabelGroup
// unique to the call; Close removes the containers, then the networks.
//
// Readiness is a signal where one exists: the server's ready line (of the
// process through fleet, of a new container through testcontainers' log
// wait), then one PING or Get on the published address. After a container
// restart (docker start) its old log lines are still there, so readiness is
// a bounded PING or Get loop, paced at a few milliseconds. etcd runs at log
// level info, for its "serving client traffic" line.
//
// # Contract
//
// Concurrency: a Redis, an Etcd or a GatelabNodes is safe for concurrent
// use; Freeze, Thaw, Kill, Restart, Stop, Partition, Heal and Close are
// serialized. Start functions may run concurrently (image resolution and
// builds are serialized per process).
//
// Allocations: none of this is a hot path; RedisDo and RedisPing open a new
// connection per call and are meant for probes, not for load.
//
// Never: deps never listens or publishes beyond 127.0.0.1 (a container's
// server listens in the container's own network namespace; only 127.0.0.1
// ports are published), never leaves a process running after Close (or
// after this process dies, on Linux; its containers and networks then go
// with the next process's orphan cleanup), never waits without a bound
// (every operation has a timeout when ctx has none), never removes
// containers, networks or images it did not make (RemoveImage removes what
// its caller names), and never imports testing.
package deps
