package main

import (
	"fmt"

	"github.com/jetray/jetray/framework"
)

// authOptions returns the Connect options of a command's credential and TLS flags
// (framework.AuthFlags), or a usage error naming the command.
func authOptions(cmd string, a *framework.Auth) ([]framework.Option, error) {
	opts, err := a.ClientOptions()
	if err != nil {
		return nil, usageError{fmt.Sprintf("%s: %v", cmd, err)}
	}
	return opts, nil
}
