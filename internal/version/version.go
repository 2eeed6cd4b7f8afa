// Package version names the build of the invsync binaries. A release build
// stamps it at link time (dev/release):
//
//	go build -ldflags "-X github.com/invsync/invsync/internal/version.Version=v1.4.0" ./workers
package version

import "runtime/debug"

// Version is set by the linker; a plain go build leaves it empty.
var Version string

// String is Version when the build stamped one, else the module version the
// go command recorded from the checkout (a pseudo-version, "+dirty" for
// uncommitted changes), else "devel".
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
