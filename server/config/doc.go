// Package config reads the server's configuration from the environment
// (protocol.md §11) and from command-line flags of the same meaning, flags
// winning. Every setting has a documented default; invalid values are
// errors naming the variable.
package config
