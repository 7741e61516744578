package pipeline

// Gateway is the engine-neutral request pipeline shared by every server engine.
// (Being written; placeholder so engine packages compile.)
type Gateway struct{}
