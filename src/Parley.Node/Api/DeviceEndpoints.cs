using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Parley.Chat.Linking;
using Parley.Core.Identity;
using Parley.Node.Linking;

namespace Parley.Node.Api;

/// <summary>The account's devices and linking new ones (docs/linking.md).</summary>
internal static class DeviceEndpoints
{
    public static void Map(IEndpointRouteBuilder app, ParleyNode node, CancellationToken stopping)
    {
        var api = app.MapGroup("/api/devices");
        api.MapGet("", (CancellationToken ct) => ApiEndpoints.WithChat(node, async _ =>
            Results.Ok((await node.ListDevicesAsync(ct)).Select(DeviceDto.From).ToList())))
            .WithSummary("The account's devices known here: id, the name it was linked under, this device");
        api.MapDelete("/{id}", (string id, CancellationToken ct) => ApiEndpoints.WithChat(node, async _ =>
        {
            if (!PeerId.TryParse(id, out var device))
            {
                return ApiJsonContext.Error(new ErrorDto($"'{id}' is not a device id (parley device list shows them)"), statusCode: StatusCodes.Status400BadRequest);
            }
            if (device == node.PeerId)
            {
                return ApiJsonContext.Error(new ErrorDto("a device cannot remove itself; remove it from another device of the account"), statusCode: StatusCodes.Status409Conflict);
            }
            if (!(await node.ListDevicesAsync(ct)).Any(d => d.Id == device))
            {
                return ApiJsonContext.Error(new ErrorDto($"{device} is not a device of this account"), statusCode: StatusCodes.Status404NotFound);
            }
            await node.RemoveDeviceAsync(device, ct);
            return Results.Ok((await node.ListDevicesAsync(ct)).Select(DeviceDto.From).ToList());
        })).WithSummary("Remove a device from the account: the published device list drops it and bars its key for good; answers the devices left");
        api.MapPost("/link", () => ApiEndpoints.WithChat(node, _ =>
            Task.FromResult(Results.Ok(LinkOfferDto.From(node.Linker!.CreateOffer(node.Host.ListenAddresses), withQr: true)))))
            .WithSummary("A new one-time link code (10 minutes) with its QR code; a code still waiting is withdrawn");
        api.MapGet("/link", () => ApiEndpoints.WithChat(node, _ => Task.FromResult(node.Linker!.Current is { } offer
            ? Results.Ok(LinkOfferDto.From(offer, withQr: false))
            : ApiJsonContext.Error(new ErrorDto("no link code was made on this device; make one with POST /api/devices/link"), statusCode: StatusCodes.Status404NotFound))))
            .WithSummary("How the last link code is doing: waiting, confirming (with the verification code), transferring, linked or failed");
        api.MapPost("/link/confirm", (ConfirmLinkRequest request) => ApiEndpoints.WithChat(node, _ => Task.FromResult(
            node.Linker!.Current is { } offer && offer.Decide(request.Accept)
                ? Results.Ok(LinkOfferDto.From(offer, withQr: false))
                : ApiJsonContext.Error(new ErrorDto("no device is waiting for a confirmation"), statusCode: StatusCodes.Status409Conflict))))
            .WithSummary("The user's answer to 'does the new device show the same verification code?'; false declines");
        api.MapPost("/add", (AddDeviceRequest request) =>
        {
            if (node.Chat is not null)
            {
                return ApiJsonContext.Error(new ErrorDto("this node already has an account; link a new device from an empty data folder"), statusCode: StatusCodes.Status409Conflict);
            }
            LinkCode code;
            try
            {
                code = LinkCode.Parse(request.Code ?? "");
            }
            catch (FormatException e)
            {
                return ApiJsonContext.Error(new ErrorDto(e.Message), statusCode: StatusCodes.Status400BadRequest);
            }
            return Results.Ok(DeviceJoinDto.From(node.StartJoin(code, string.IsNullOrWhiteSpace(request.Name) ? Environment.MachineName : request.Name, stopping)));
        }).WithSummary("Link this node (no account yet) into the account of the device that made the code; progress at GET /api/devices/add");
        api.MapGet("/add", () => node.Join is { } join
            ? Results.Ok(DeviceJoinDto.From(join))
            : ApiJsonContext.Error(new ErrorDto("no link was started on this node"), statusCode: StatusCodes.Status404NotFound))
            .WithSummary("How linking this node is going: connecting, confirming (with the verification code), linked or failed");
    }
}

public sealed record DeviceDto(string Id, string? Name, bool ThisDevice, DateTimeOffset CertifiedAt)
{
    public static DeviceDto From(DeviceEntry device) => new(device.Id.ToString(), device.Name, device.IsThisDevice, device.CertifiedAt);
}

/// <summary>A link code and its state; <c>qr</c> (rows of modules, '1' dark) only when it was just made.</summary>
public sealed record LinkOfferDto(string Code, DateTimeOffset ExpiresAt, string State, string? VerificationCode, string? DeviceName, string? Device, string? Error, IReadOnlyList<string>? Qr)
{
    public static LinkOfferDto From(LinkOffer offer, bool withQr) => new(
        offer.Code.ToString(), offer.Code.ExpiresAt, offer.State.ToString().ToLowerInvariant(), offer.VerificationCode, offer.DeviceName, offer.Device?.ToString(), offer.Error,
        withQr ? QrRendering.Rows(LinkCodeQr(offer.Code)) : null);

    /// <summary>In capitals, the QR code's alphanumeric mode holds the code in fewer modules; parsing ignores case.</summary>
    public static string LinkCodeQr(LinkCode code) => code.ToString().ToUpperInvariant();
}

public sealed record ConfirmLinkRequest(bool Accept);

public sealed record AddDeviceRequest(string? Code, string? Name = null);

public sealed record DeviceJoinDto(string State, string? VerificationCode, string? Error, string? Account, string? Handle, int Contacts, int Rooms, int Messages)
{
    public static DeviceJoinDto From(DeviceJoin join) => new(
        join.State.ToString().ToLowerInvariant(), join.VerificationCode, join.Error, join.Result?.Account.ToString(),
        join.Result is { } r ? $"{r.Name}#{Chat.Identity.Handle.TagOf(r.Account.TryExtractPublicKey()!)}" : null,
        join.Result?.Contacts ?? 0, join.Result?.Rooms ?? 0, join.Result?.Messages ?? 0);
}
