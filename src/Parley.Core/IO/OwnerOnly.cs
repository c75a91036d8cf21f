namespace Parley.Core.IO;

/// <summary>
/// Files readable and writable by their owner only (0600) in folders only the owner can enter (0700), whatever the
/// process's umask and whatever mode an existing file or folder had: the data folder holds keys, messages and the
/// API token. Windows keeps its inherited ACLs (the user profile is already private).
/// </summary>
public static class OwnerOnly
{
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Creates the folder (and missing parents) as 0700, or brings an existing one to 0700.</summary>
    public static void CreateDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
            return;
        }
        // The mode given at creation is narrowed by the umask, never widened, and an existing folder keeps its own.
        Directory.CreateDirectory(path, DirectoryMode);
        if (File.GetUnixFileMode(path) != DirectoryMode)
        {
            File.SetUnixFileMode(path, DirectoryMode);
        }
    }

    /// <summary>Brings an existing file to 0600 (a file written by another program, or by an older Parley); nothing
    /// when it does not exist.</summary>
    public static void RestrictFile(string path)
    {
        if (!OperatingSystem.IsWindows() && File.Exists(path) && File.GetUnixFileMode(path) != FileMode)
        {
            File.SetUnixFileMode(path, FileMode);
        }
    }

    /// <summary>Options for a new or truncated file that is 0600 from its first byte.</summary>
    public static FileStreamOptions CreateOptions()
    {
        var options = new FileStreamOptions { Mode = System.IO.FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = FileMode;
        }
        return options;
    }

    /// <summary>
    /// Writes a whole file through a temporary one that is flushed to disk and renamed over it, so a crash leaves the
    /// old file or the new one, never half of one; both are 0600.
    /// </summary>
    public static async Task WriteAtomicallyAsync(string path, Func<Stream, CancellationToken, Task> write, bool overwrite, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(write);
        var temporary = path + ".tmp";
        // A temporary file left by a crash keeps its mode when reopened; start from a new one.
        File.Delete(temporary);
        await using (var stream = new FileStream(temporary, CreateOptions()))
        {
            await write(stream, cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite);
    }
}
