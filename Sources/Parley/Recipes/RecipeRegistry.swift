/// Every recipe Parley runs, the way swift-argument-parser lists its subcommands. The first
/// is the default of a config that names none.
///
/// (Key paths on these existential metatypes, `all.map(\.name)`, crash Swift 6.3's SIL
/// lowering: use closures.)
enum RecipeRegistry {
    static let builtIn: [any RecipeKind.Type] = [
        ParrotRecipe.self,
        EvalRecipe.self,
        CaPORecipe.self,
        ExpertRecipe.self,
        SelfTalkRecipe.self,
    ]

    /// Recipes defined outside this module (a test target's), added before a config names them.
    private static let registered = Locked<[any RecipeKind.Type]>([])

    static var all: [any RecipeKind.Type] { builtIn + registered.withLock { $0 } }

    /// Adds a recipe defined outside this module; adding one twice changes nothing.
    static func register(_ kind: any RecipeKind.Type) {
        registered.withLock { kinds in
            if !kinds.contains(where: { $0 == kind }) { kinds.append(kind) }
        }
    }

    /// The recipe named `name` in a config.
    static func kind(named name: String) -> (any RecipeKind.Type)? {
        all.first { $0.name == name }
    }

    /// The recipe a run of `engine` runs, and the system prompt that opens its dataset rows.
    static func make(_ engine: Engine) throws(ConfigError) -> (recipe: any RecipeKind, system: String?) {
        let kind = kind(named: engine.config.recipe) ?? all[0]
        let system = kind.systemRole.flatMap { engine.roles[$0]?.config.systemPrompt }
        return (try kind.init(engine: engine), system)
    }

    /// How `recipe` declares the role `name`; a role the recipe does not run keeps the meaning
    /// its name has in the recipe that does (a `judge` is greedy wherever it appears).
    static func declaration(of name: String, in recipe: String) -> RoleDeclaration? {
        let own = kind(named: recipe)?.roles.first { $0.name == name }
        return own ?? all.lazy.flatMap { $0.roles }.first { $0.name == name }
    }
}
