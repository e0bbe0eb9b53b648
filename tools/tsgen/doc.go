// Command tsgen writes web/src/conn/protocol.gen.ts, the TypeScript
// declarations of the wire protocol, from the Go types in shared/protocol
// and shared/game (STYLE §7: protocol types are generated, never copied).
//
//	go run ./tools/tsgen            # from the module root; `make generate`
//	go run ./tools/tsgen -out FILE  # somewhere else
//
// Shapes come from reflection over the Go types (json tags, omitempty,
// pointers, maps), doc comments from their source, constant values from the
// Go constants themselves. The tables in gen.go say which types and
// constants are emitted; Generate fails when shared/protocol or shared/game
// exports a type or constant that no table mentions, so a new message cannot
// be forgotten. TestGeneratedFileIsCurrent fails when the committed file is
// stale.
package main
