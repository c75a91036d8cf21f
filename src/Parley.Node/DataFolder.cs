using Parley.Core.Identity;

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
        CreateOwnerOnlyDirectory(Path);
        try
        {
            return new FileStream(System.IO.Path.Combine(Path, LockFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
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
        CreateOwnerOnlyDirectory(Path);
        var key = IdentityKey.Generate();
        // Write to a temporary file and rename, so a crash never leaves a half-written key behind.
        var temporary = file + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        await using (var stream = new FileStream(temporary, options))
        {
            await stream.WriteAsync(key.ToPrivateKeyProtobuf(), cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, file, overwrite: false);
        return key;
    }

    private static void CreateOwnerOnlyDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
        }
        else
        {
            Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }
}
