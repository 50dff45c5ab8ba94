/// One named hyperparameter and its domain.
public struct Hyperparameter: Sendable, Hashable {
    public let name: String
    public let domain: Domain

    public init(name: String, domain: Domain) {
        self.name = name
        self.domain = domain
    }
}

/// The hyperparameters an experiment tunes, in the order the experiment file declares them.
public struct SearchSpace: Sendable, Hashable {
    public let parameters: [Hyperparameter]

    public init(_ parameters: [Hyperparameter]) {
        self.parameters = parameters
    }

    /// The domain of `name`, if it is declared.
    public func domain(of name: String) -> Domain? {
        parameters.first { $0.name == name }?.domain
    }

    /// The declared names, in file order.
    public var names: [String] { parameters.map(\.name) }

    /// A full draw from every domain's prior.
    public func sample(using random: inout some RandomNumberGenerator) -> Hyperparameters {
        var values: [String: HyperparameterValue] = [:]
        for parameter in parameters {
            values[parameter.name] = parameter.domain.sample(using: &random)
        }
        return Hyperparameters(values)
    }

    /// Why `hyperparameters` do not fit this space, or nil when they do: every declared
    /// name present, no other name, every value inside its domain.
    public func violation(in hyperparameters: Hyperparameters) -> String? {
        for parameter in parameters {
            guard let value = hyperparameters[parameter.name] else {
                return "missing hyperparameter '\(parameter.name)'"
            }
            if !parameter.domain.contains(value) {
                return "hyperparameter '\(parameter.name)' = \(value) is outside its \(parameter.domain.kind) domain"
            }
        }
        for name in hyperparameters.names where domain(of: name) == nil {
            return "unknown hyperparameter '\(name)'"
        }
        return nil
    }
}
