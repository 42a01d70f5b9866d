/// A recipe as the core sees it: its name, the roles it runs, its config section, the files it
/// may write, and how it is made for a run. The config reader, the runner and the writer know
/// recipes only through this protocol and `RecipeRegistry`; a new recipe is a folder of its own
/// plus one line in the registry.
protocol RecipeKind: Recipe {
    /// The config's `recipe` value.
    static var name: String { get }
    /// The roles it runs; a config without a required one is refused, naming them in this order.
    static var roles: [RoleDeclaration] { get }
    /// Its own config section (`"eval": {…}`), if it has one.
    static var settings: (any RecipeSettings.Type)? { get }
    /// Every file besides the dataset files that a run of it may write (what resume cuts back and
    /// `--fresh` removes); which of them a given run writes is `outputFiles`.
    static var allOutputFiles: [String] { get }
    /// The role whose system prompt opens every dataset row (`dialogues.jsonl`, `messages.jsonl`).
    static var systemRole: String? { get }
    /// The records it journals besides messages, if any (see `RecipeRecord`).
    static var records: (any RecipeRecord.Type)? { get }

    /// The recipe for a run; throws when the engine lacks a role it needs (a config built in code).
    init(engine: Engine) throws(ConfigError)
}

extension RecipeKind {
    static var settings: (any RecipeSettings.Type)? { nil }
    static var allOutputFiles: [String] { [] }
    static var systemRole: String? { nil }
    static var records: (any RecipeRecord.Type)? { nil }
}

/// A role a recipe runs, and the defaults it has there.
struct RoleDeclaration: Sendable {
    /// The key under `roles` in the config.
    let name: String
    /// Whether a config of the recipe must define it.
    let required: Bool
    /// Whether it plays the user, and so may have a `mode` (trained, prompted, swapped); the
    /// scripted backend writes the end marker for it.
    let playsUser: Bool
    /// Whether it judges: the scripted backend ends its text with a verdict.
    let judges: Bool
    /// Defaults that differ from `RoleConfig`'s own, set before the config's fields are read.
    let defaults: @Sendable (inout RoleConfig) -> Void

    init(
        _ name: String, required: Bool = true, playsUser: Bool = false, judges: Bool = false,
        defaults: @escaping @Sendable (inout RoleConfig) -> Void = { _ in }
    ) {
        self.name = name
        self.required = required
        self.playsUser = playsUser
        self.judges = judges
        self.defaults = defaults
    }
}

/// A recipe's own section of the config, read beside its type through the same path-aware
/// reader as the rest of the config, so its errors keep their paths and suggestions.
protocol RecipeSettings: Sendable {
    /// The section's key in the config (`"eval"`).
    static var section: String { get }
    /// The settings of a config without the section.
    init()
    /// Reads the section; problems are reported through `o.reader` with their paths.
    init(reading o: ObjectReader)
}
