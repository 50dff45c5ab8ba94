import ArgumentParser
import Foundation
import PBTSecurity
import ZeroMQ

/// `pbt keygen --output DIR/NAME`: a CURVE key pair as NAME.key (secret, mode 0600) and NAME.pub.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a CURVE key pair: NAME.key (the secret, mode 0600) and NAME.pub (the public key).",
        discussion: """
            One pair for the servers (the selector and the event proxy: --key server.key; everyone else \
            --server-key server.pub), one for each client or group of clients (--key client.key), whose \
            .pub lines go into the servers' --authorized-keys file:

              pbt keygen --output keys/server
              pbt keygen --output keys/trainers --authorize keys/authorized_keys
            """)

    @Option(
        name: [.short, .long],
        help: ArgumentHelp(
            "Where to write: DIR/NAME makes DIR/NAME.key and DIR/NAME.pub (DIR is made, mode 0700).", valueName: "path")
    )
    var output: String

    @Option(
        name: .long,
        help: ArgumentHelp("Also add the public key to this authorized-keys file (made if missing).", valueName: "file")
    )
    var authorize: String?

    @Flag(
        name: .long,
        help: "Replace an existing key pair (with --authorize, the replaced public key leaves that file).")
    var force = false

    func validate() throws {
        // The name as written: URL would read '' as the current directory and name the files after it.
        let name = output.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? ""
        guard !name.isEmpty, name != ".", name != ".." else {
            throw ValidationError(
                "--output is DIR/NAME or NAME (the files are NAME.key and NAME.pub), got '\(output)': give a name")
        }
        if name.hasSuffix(".key") || name.hasSuffix(".pub") {
            throw ValidationError("--output takes the name without .key or .pub: '\(String(output.dropLast(4)))'")
        }
        if let authorize, authorize.hasSuffix(".key") || authorize.hasSuffix(".pub") {
            throw ValidationError(
                "--authorize takes an authorized-keys file (public keys, one a line), not a key file: '\(authorize)'")
        }
    }

    /// Checks, before any key is written, that `authorize` can take one more line: an
    /// authorized-keys file (or nothing yet) in a directory that exists.
    func checkAuthorizedKeysFile(_ authorize: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: authorize, isDirectory: &isDirectory) {
            if isDirectory.boolValue { throw UserError("--authorize \(authorize): is a directory") }
            do {
                _ = try CurveKeyFile.readPublicKeys(authorize)
            } catch {
                throw UserError(
                    "--authorize \(authorize): not an authorized-keys file, so nothing was added to it (\(error))")
            }
            guard access(authorize, W_OK) == 0 else {
                throw UserError("--authorize \(authorize): cannot write it (\(String(cString: strerror(errno))))")
            }
            return
        }
        // Its directory must be there, or be the one the key pair goes into (made below).
        let folder = (authorize as NSString).deletingLastPathComponent
        let outputFolder = (output as NSString).deletingLastPathComponent
        guard
            folder.isEmpty || folder == outputFolder
                || (FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) && isDirectory.boolValue)
        else { throw UserError("--authorize \(authorize): its directory \(folder) does not exist") }
    }

    /// The public key of the pair at `output` now, from its .pub or else its .key (nil if neither reads).
    func existingPublicKey() -> [UInt8]? {
        if let key = try? CurveKeyFile.readPublicKey(output + ".pub") { return key }
        return (try? CurveKeyFile.readKeyPair(output + ".key"))?.publicKey
    }

    func run() throws {
        try runReportingErrors {
            if let authorize { try checkAuthorizedKeysFile(authorize) }
            let directory = URL(fileURLWithPath: output).deletingLastPathComponent().path
            if !FileManager.default.fileExists(atPath: directory) {
                do {
                    try FileManager.default.createDirectory(
                        atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                } catch {
                    throw UserError("cannot make \(directory): \(error.localizedDescription)")
                }
            }
            let pair: CurveKeyPair
            do {
                pair = try CurveKeyPair.generate()
            } catch {
                throw UserError("cannot make a CURVE key pair: \(error)")
            }
            // The pair --force replaces: its public key leaves the authorized-keys file below.
            let replaced = force ? existingPublicKey() : nil
            let paths: (secret: String, public: String)
            do {
                paths = try CurveKeyFile.write(pair, base: output, overwrite: force)
            } catch {
                throw UserError("\(error)")
            }
            print("secret key: \(paths.secret) (keep it private; give it to --key)")
            print("public key: \(paths.public) (\(pair.publicText))")
            if let replaced, let text = Z85.encode(replaced) {
                if let authorize, FileManager.default.fileExists(atPath: authorize) {
                    let removed: Int
                    do {
                        removed = try CurveKeyFile.removeAuthorizedKey(replaced, from: authorize)
                    } catch {
                        throw UserError("cannot take the replaced key out of \(authorize): \(error)")
                    }
                    if removed > 0 {
                        print(
                            "replaced key \(text): taken out of \(authorize) (\(removed) line\(removed == 1 ? "" : "s"))"
                        )
                    } else {
                        print(
                            "replaced key \(text): not in \(authorize); still admitted wherever else it was authorized"
                        )
                    }
                } else if authorize == nil {
                    print(
                        "replaced key \(text): still admitted wherever it was authorized; take its line out of those authorized-keys files"
                    )
                }
            }
            if let authorize {
                let line = "\(pair.publicText) \(URL(fileURLWithPath: output).lastPathComponent)\n"
                if !FileManager.default.fileExists(atPath: authorize) {
                    guard
                        FileManager.default.createFile(
                            atPath: authorize,
                            contents: Data("# CURVE client keys admitted (pbt --authorized-keys): one a line\n".utf8))
                    else {
                        throw UserError("cannot write \(authorize)")
                    }
                }
                guard let handle = FileHandle(forUpdatingAtPath: authorize) else {
                    throw UserError("cannot write \(authorize)")
                }
                defer { try? handle.close() }
                do {
                    let end = try handle.seekToEnd()
                    var text = line
                    if end > 0 {
                        try handle.seek(toOffset: end - 1)
                        if try handle.read(upToCount: 1) != Data("\n".utf8) { text = "\n" + line }
                        try handle.seekToEnd()
                    }
                    try handle.write(contentsOf: Data(text.utf8))
                } catch {
                    throw UserError("cannot write \(authorize): \(error.localizedDescription)")
                }
                print("authorized in \(authorize)")
            }
            return 0
        }
    }
}
