using Parley.Fuzz;
using SharpFuzz;

// `Parley.Fuzz <target>` under afl-fuzz (scripts/fuzz): SharpFuzz reads each input and reports an exception that
// escapes the target as a crash. `Parley.Fuzz <target> <file or folder>...` replays inputs without the fuzzer and
// prints each failure, for triage. `Parley.Fuzz --seeds <folder>` writes the seed corpus.
if (args is ["--seeds", var seedFolder])
{
    await Seeds.WriteAsync(seedFolder);
    return 0;
}
if (args.Length == 0 || !FuzzTargets.All.TryGetValue(args[0], out var target))
{
    Console.Error.WriteLine($"usage: Parley.Fuzz <target> [input file or folder...]; targets: {string.Join(", ", FuzzTargets.All.Keys)}");
    return 2;
}
if (args.Length == 1)
{
    // SharpFuzz calls synchronously; this is the one place a target is waited for by blocking.
    Fuzzer.OutOfProcess.Run(stream =>
    {
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        target(buffer.ToArray()).GetAwaiter().GetResult();
    });
    return 0;
}
var failed = 0;
foreach (var file in args.Skip(1).SelectMany(path => Directory.Exists(path) ? Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories) : [path]))
{
    try
    {
        await target(await File.ReadAllBytesAsync(file));
    }
    catch (Exception e)
    {
        failed++;
        Console.Error.WriteLine($"{file}: {e}");
    }
}
Console.WriteLine(failed == 0 ? "every input passed" : $"{failed} inputs failed");
return failed == 0 ? 0 : 1;
