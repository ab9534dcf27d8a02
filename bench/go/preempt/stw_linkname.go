//go:build !go1.21

package main

import _ "unsafe" // go:linkname

// The runtime's own stop-the-world, so that stop and start can be timed
// apart, as gort::stop_the_world and start_the_world are (ReadMemStats, the
// public way to stop Go's world, times both plus its own work). Until Go 1.20
// their signatures are these; Go 1.21 changed them (stw_none.go).

//go:linkname stopTheWorld runtime.stopTheWorld
func stopTheWorld(reason string)

//go:linkname startTheWorld runtime.startTheWorld
func startTheWorld()

const haveSTW = true
