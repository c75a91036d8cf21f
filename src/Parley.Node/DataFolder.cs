using Parley.Core.Identity;
using Parley.Core.IO;

namespace Parley.Node;

/// <summary>
/// The node's data folder, readable by its owner only: the node (device) key, created on first run; the chat and
/// mailbox databases; the saved routing table; and a lock file that keeps a second process off the same folder.
/// </summary>
public sealed class DataFolder(string path)
{
    private const string NodeKeyFile = "node.key";
    private const string LockFile = "node.lock";

    public string Path { get; } = path;

    public string ChatDatabase => System.IO.Path.Combine(Path, "parley.db");

    public string MailboxDatabase => System.IO.Path.Combine(Path, "mailbox.db");

    public string RoutingTable => System.IO.Path.Combine(Path, Dht.RoutingTableFile.FileName);

    /// <summary>Takes the folder for this process until the returned lock is disposed.</summary>
    /// <exception cref="IOException">Another process holds it; the message says so.</exception>
    public IDisposable Lock()
    {
        OwnerOnly.CreateDirectory(Path);
        var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None, BufferSize = 1, Options = FileOptions.DeleteOnClose };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerOnly.FileMode;
        }
        try
        {
            return new FileStream(System.IO.Path.Combine(Path, LockFile), options);
        }
        catch (IOException e)
        {
            throw new IOException($"another parley process is using {Path}; stop it first (or give this one another --data folder)", e);
        }
    }

    public static string DefaultPath => System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".parley");

    /// <exception cref="InvalidDataException">The key file exists but is not a valid key.</exception>
    public async Task<IdentityKey> LoadOrCreateNodeKeyAsync(CancellationToken cancellationToken)
    {
        var file = System.IO.Path.Combine(Path, NodeKeyFile);
        if (File.Exists(file))
        {
            OwnerOnly.RestrictFile(file);
            var bytes = await File.ReadAllBytesAsync(file, cancellationToken).ConfigureAwait(false);
            try
            {
                return IdentityKey.FromPrivateKeyProtobuf(bytes);
            }
            catch (FormatException e)
            {
                throw new InvalidDataException($"{file} is not a valid node key ({e.Message}); move it away to create a new identity", e);
            }
        }
        OwnerOnly.CreateDirectory(Path);
        var key = IdentityKey.Generate();
        // Never overwrite: a key that appeared meanwhile is another process's identity.
        await OwnerOnly.WriteAtomicallyAsync(file, (stream, ct) => stream.WriteAsync(key.ToPrivateKeyProtobuf(), ct).AsTask(), overwrite: false, cancellationToken).ConfigureAwait(false);
        return key;
    }
}
