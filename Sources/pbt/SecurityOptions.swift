import ArgumentParser
import Foundation
import Logging
import PBTSecurity
import ZeroMQ

/// CURVE options every stage takes. Giving `--key` turns CURVE on for every socket of the
/// process; without it the stage talks in the clear (and a CURVE peer refuses it).
///
///     binding stages (selector, events proxy):  --key SERVER.key --authorized-keys FILE
///     connecting stages (trainers, taps, …):    --key CLIENT.key --server-key SERVER.pub
///     the selector, evaluators and mutators bind and connect: all three
struct SecurityOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "This process's CURVE key pair, a .key file from pbt keygen; turns CURVE on for every socket (env PBT_KEY).",
            valueName: "file"))
    var key: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The servers' CURVE public key (a .pub file): the selector's and the event proxy's, for connecting (env PBT_SERVER_KEY).",
            valueName: "file"))
    var serverKey: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The client public keys this stage's bound sockets admit, one a line (# comments); re-read when it changes (env PBT_AUTHORIZED_KEYS).",
            valueName: "file"))
    var authorizedKeys: String?

    /// What a stage does with its sockets, and so which files it needs.
    enum Sockets {
        case connects, binds, both
    }

    /// Reads the files this stage needs (others given through the environment are ignored),
    /// or nil without `--key`. A missing or bad file is a `UserError` naming it.
    func load(for sockets: Sockets, logger: Logger? = nil) throws -> CurveSecurity? {
        let key = self.key ?? environment("PBT_KEY")
        let serverKey = self.serverKey ?? environment("PBT_SERVER_KEY")
        let authorizedKeys = self.authorizedKeys ?? environment("PBT_AUTHORIZED_KEYS")
        guard let key else {
            let given = [
                ("--server-key (PBT_SERVER_KEY)", serverKey),
                ("--authorized-keys (PBT_AUTHORIZED_KEYS)", authorizedKeys),
            ]
            .filter { $0.1 != nil }.map(\.0)
            if !given.isEmpty {
                throw UserError(
                    "\(given.joined(separator: " and ")) \(given.count == 1 ? "needs" : "need") --key (PBT_KEY): this process's key pair, a .key file from pbt keygen"
                )
            }
            return nil
        }
        let needsServerKey = sockets != .binds
        let needsAuthorized = sockets != .connects
        // A flag this stage would ignore is a misunderstanding worth saying (the environment
        // is shared by many stages, so it is not checked).
        if !needsAuthorized, self.authorizedKeys != nil {
            throw UserError(
                "--authorized-keys is for stages that bind sockets others connect to; this one only connects: drop it")
        }
        if !needsServerKey, self.serverKey != nil {
            throw UserError(
                "--server-key is for stages that connect to a server; this one only binds (its key is the server's): drop it"
            )
        }
        if needsServerKey, serverKey == nil {
            throw UserError(
                "--key (PBT_KEY) needs --server-key (PBT_SERVER_KEY) too: the public key (.pub) of the selector and the event proxy this stage connects to"
            )
        }
        if needsAuthorized, authorizedKeys == nil {
            throw UserError(
                "--key (PBT_KEY) needs --authorized-keys (PBT_AUTHORIZED_KEYS) too: the file of client public keys this stage admits (one a line)"
            )
        }
        do {
            let security = try CurveSecurity.load(
                key: key, serverKey: needsServerKey ? serverKey : nil,
                authorizedKeys: needsAuthorized ? authorizedKeys : nil)
            if let warning = CurveKeyFile.exposure(of: key) { logger?.warning("\(warning)") }
            return security
        } catch {
            throw UserError("\(error)")
        }
    }
}
