/// The recipes' own config sections, by settings type: the config holds them without knowing
/// any recipe, and a config without a recipe's section has that recipe's default settings.
struct RecipeSections: Sendable {
    private var values: [ObjectIdentifier: any RecipeSettings] = [:]

    subscript<Settings: RecipeSettings>(_ type: Settings.Type) -> Settings {
        get { values[ObjectIdentifier(type)] as? Settings ?? Settings() }
        set { values[ObjectIdentifier(type)] = newValue }
    }

    /// Keeps settings read from the config, under their own type.
    mutating func keep(_ settings: any RecipeSettings) {
        values[ObjectIdentifier(type(of: settings))] = settings
    }
}
