//go:build go1.21

package main

// Go 1.21 changed runtime.stopTheWorld's signature and Go 1.23 forbids
// linking to it: only ReadMemStats is measured there.

func stopTheWorld(string) {}
func startTheWorld()      {}

const haveSTW = false
