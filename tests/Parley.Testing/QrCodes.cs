using ZXing;
using ZXing.Common;
using ZXing.QrCode;

namespace Parley.Testing;

/// <summary>Reads back the QR codes Parley draws, with ZXing (an independent decoder), as a phone camera would.</summary>
public static class QrCodes
{
    private const int PixelsPerModule = 4;

    /// <summary>Rows of modules, '1' dark (the API's form).</summary>
    public static string? DecodeRows(IReadOnlyList<string> rows) => Decode(rows.Select(r => r.Select(c => c == '1').ToArray()).ToList());

    /// <summary>Unicode half blocks, two module rows per line; <paramref name="blocksAreLight"/>: a drawn half is a light module.</summary>
    public static string? DecodeHalfBlocks(string text, bool blocksAreLight)
    {
        var modules = new List<bool[]>();
        var lines = text.Split('\n').Where(l => l.Length > 0).ToList();
        foreach (var line in lines)
        {
            var top = line.Select(c => c is '█' or '▀').ToArray();
            var bottom = line.Select(c => c is '█' or '▄').ToArray();
            modules.Add(top.Select(drawn => drawn != blocksAreLight).ToArray());
            // An odd number of module rows leaves the last line's lower halves empty: no row there.
            if (line != lines[^1] || bottom.Any(drawn => drawn))
            {
                modules.Add(bottom.Select(drawn => drawn != blocksAreLight).ToArray());
            }
        }
        return Decode(modules);
    }

    /// <summary>The text of a QR code given as modules (true: dark); null when it does not decode.</summary>
    public static string? Decode(IReadOnlyList<bool[]> modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        var size = modules.Max(r => r.Length);
        // A quiet zone of 4 light modules on every side, whatever the drawing had.
        var width = (size + 8) * PixelsPerModule;
        var height = (modules.Count + 8) * PixelsPerModule;
        var pixels = new byte[width * height];
        Array.Fill(pixels, (byte)255);
        for (var y = 0; y < modules.Count; y++)
        {
            for (var x = 0; x < modules[y].Length; x++)
            {
                if (!modules[y][x])
                {
                    continue;
                }
                for (var dy = 0; dy < PixelsPerModule; dy++)
                {
                    Array.Fill(pixels, (byte)0, ((y + 4) * PixelsPerModule + dy) * width + (x + 4) * PixelsPerModule, PixelsPerModule);
                }
            }
        }
        var bitmap = new BinaryBitmap(new HybridBinarizer(new RGBLuminanceSource(pixels, width, height, RGBLuminanceSource.BitmapFormat.Gray8)));
        return new QRCodeReader().decode(bitmap, new Dictionary<DecodeHintType, object> { [DecodeHintType.PURE_BARCODE] = false })?.Text;
    }
}
