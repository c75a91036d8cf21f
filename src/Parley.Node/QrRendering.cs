using QRCoder;

namespace Parley.Node;

/// <summary>QR codes for what users scan (contact links, device link codes), in the two forms the interfaces draw.</summary>
public static class QrRendering
{
    /// <summary>Rows of modules, '1' dark, with the quiet zone of 4 modules around it (the web UI draws them as SVG).</summary>
    public static IReadOnlyList<string> Rows(string text)
    {
        using var data = Encode(text);
        return data.ModuleMatrix.Select(row => string.Concat(row.Cast<bool>().Select(dark => dark ? '1' : '0'))).ToList();
    }

    /// <summary>Unicode half blocks, two rows of modules per line, light modules drawn (print it light on dark).</summary>
    public static string Text(string text)
    {
        using var data = Encode(text);
        using var ascii = new AsciiQRCode(data);
        return ascii.GetGraphicSmall(drawQuietZones: true, invert: false, endOfLine: "\n");
    }

    // Error correction M (15%), what most scanned codes use.
    private static QRCodeData Encode(string text) => QRCodeGenerator.GenerateQrCode(text, QRCodeGenerator.ECCLevel.M);
}
