// Placeholder until the generator lands (same session).
namespace medmigrate::generate {}
