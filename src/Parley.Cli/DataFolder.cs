using Parley.Core.Identity;

namespace Parley.Cli;

/// <summary>The node's data folder: its key lives here, created on first run, readable by the owner only.</summary>
internal sealed class DataFolder(string path)
{
    private const string NodeKeyFile = "node.key";

    public string Path { get; } = path;

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
