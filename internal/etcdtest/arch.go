package etcdtest

import (
	"os"
	"runtime"
)

// etcd 3.4 refuses to start on architectures other than amd64 and ppc64le
// unless ETCD_UNSUPPORTED_ARCH names the architecture (arm64 among them).
// The binary is the host's, so the test binary's GOARCH is its architecture.

func runtimeNeedsArchFlag() bool {
	if _, set := os.LookupEnv("ETCD_UNSUPPORTED_ARCH"); set {
		return false
	}
	return runtime.GOARCH != "amd64" && runtime.GOARCH != "ppc64le"
}

func archName() string { return runtime.GOARCH }
