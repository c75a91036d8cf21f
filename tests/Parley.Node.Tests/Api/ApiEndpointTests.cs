using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Chat.Messaging;
using Parley.Node.Api;
using Parley.Storage;

namespace Parley.Node.Tests.Api;

/// <summary>Every REST endpoint of the local API against real nodes on loopback: its normal answer and its refusals.</summary>
[Collection("api")]
public sealed class ApiEndpointTests(ApiNetwork network)
{
    private static readonly TimeSpan Patience = ApiNetwork.Patience;

    [Fact]
    public async Task Status_names_the_user_the_device_its_peers_and_addresses()
    {
        var alice = network["alice"];
        var status = await alice.GetAsync<StatusDto>("/api/status");
        Assert.Equal(alice.Handle, status.Handle);
        Assert.Equal(alice.Node.Chat!.Account.Id.ToString(), status.Account);
        Assert.Equal(alice.Node.PeerId.ToString(), status.Device);
        Assert.True(status.Peers > 0, "alice knows some peers");
        Assert.All(status.Addresses, a => Assert.StartsWith("/ip4/127.0.0.1/tcp/", a, StringComparison.Ordinal));
        Assert.Contains(status.Addresses, a => a.EndsWith($"/p2p/{alice.Node.PeerId}", StringComparison.Ordinal));
        Assert.True(status.MailboxNodesAsked > 0, "alice has fetched her mailbox");
        Assert.True(status.Outbox >= 0);
        Assert.NotNull(status.Resources);
        Assert.True(status.Resources.InboundConnections + status.Resources.OutboundConnections > 0, "alice has connections");
        Assert.Contains("connectionsPerAddress", status.Resources.Refusals.Keys);
        // On loopback every node can dial every other: AutoNAT finds them public, so they serve the DHT and relay.
        Assert.Contains(status.Reachability, new[] { "public", "unknown" });
        Assert.Equal("server", status.DhtMode);
        Assert.Empty(status.Relays);
        var connections = await alice.GetAsync<List<ConnectionDto>>("/api/connections");
        Assert.Equal(status.DirectConnections, connections.Count(c => !c.Relayed));
        Assert.All(connections, c => Assert.StartsWith("/ip4/127.0.0.1/tcp/", c.Address, StringComparison.Ordinal));

        var blank = await network.Blank.GetAsync<StatusDto>("/api/status");
        Assert.Null(blank.Handle);
        Assert.Null(blank.Account);
        Assert.Equal(network.Blank.Node.PeerId.ToString(), blank.Device);
        Assert.NotEmpty(blank.Addresses);
    }

    [Fact]
    public async Task Connect_dials_a_peer_by_address_and_refuses_malformed_own_and_dead_addresses()
    {
        var alice = network["alice"];
        var blank = network.Blank.Node;
        var address = blank.Host.ListenAddresses[0].WithPeerId(blank.PeerId).ToString();

        var connections = await alice.PostAsync<List<ConnectionDto>>("/api/connections", new ConnectRequest(address));

        Assert.NotEmpty(connections);
        Assert.All(connections, c => Assert.Equal(blank.PeerId.ToString(), c.Peer));
        Assert.Contains("/p2p/<peer id>", await alice.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Post, "/api/connections", JsonContent.Create(new ConnectRequest("/ip4/127.0.0.1/tcp/1"))), StringComparison.Ordinal);
        Assert.Contains("/p2p/<peer id>", await alice.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Post, "/api/connections", JsonContent.Create(new ConnectRequest("nonsense"))), StringComparison.Ordinal);
        var own = alice.Node.Host.ListenAddresses[0].WithPeerId(alice.Node.PeerId).ToString();
        Assert.Equal("that address is this node's own", await alice.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Post, "/api/connections", JsonContent.Create(new ConnectRequest(own))));
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var closedPort = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var stranger = Parley.Core.Identity.IdentityKey.Generate().PeerId;
        var dead = $"/ip4/127.0.0.1/tcp/{closedPort}/p2p/{stranger}";
        Assert.StartsWith($"cannot connect to {stranger}", await alice.RefusedAsync(HttpStatusCode.BadGateway, HttpMethod.Post, "/api/connections", JsonContent.Create(new ConnectRequest(dead))), StringComparison.Ordinal);
    }

    /// <summary>A full disk (SQLite's SQLITE_FULL, here from max_page_count) is an IOException like the network's
    /// failures, and was once reported as "the network did not answer: the disk … is full".</summary>
    [Fact]
    public async Task A_full_disk_is_reported_as_a_full_disk()
    {
        var folder = Directory.CreateTempSubdirectory("parley-full-disk-");
        try
        {
            var path = Path.Combine(folder.FullName, "full.db");
            await using var database = await SqliteDatabase.OpenAsync(path, [new Migration(1, "CREATE TABLE t (v BLOB)")], Durability.ProcessCrash, CancellationToken.None);
            await database.ReadAsync(c => c.Execute(null, "PRAGMA max_page_count = " + c.Scalar(null, "PRAGMA page_count")), CancellationToken.None);

            var result = await ApiEndpoints.WithChat(network["alice"].Node, async _ =>
            {
                await database.WriteAsync((c, t) => c.Execute(t, "INSERT INTO t (v) VALUES ($v)", ("$v", new byte[1 << 20])), CancellationToken.None);
                return Results.Ok();
            });

            Assert.Equal(StatusCodes.Status507InsufficientStorage, Assert.IsAssignableFrom<IStatusCodeHttpResult>(result).StatusCode);
            var error = Assert.IsType<ErrorDto>(Assert.IsAssignableFrom<IValueHttpResult>(result).Value).Error;
            Assert.Equal($"the disk holding {path} is full; nothing was written", error);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Alice_finds_bob_writes_and_bob_accepts_reads_and_answers()
    {
        var alice = network["alice"];
        var bob = network["bob"];

        // Find by name, by handle; nobody; refusals for what cannot be a name.
        var byName = Assert.Single(await alice.GetAsync<List<MatchDto>>("/api/find?q=bob"));
        Assert.Equal(bob.Handle, byName.Handle);
        Assert.Equal(bob.Node.Chat!.Account.Id.ToString(), byName.Account);
        Assert.Equal(byName, Assert.Single(await alice.GetAsync<List<MatchDto>>($"/api/find?q={ApiUser.Path(bob.Handle)}")));
        Assert.Empty(await alice.GetAsync<List<MatchDto>>("/api/find?q=nobody-here"));
        Assert.Contains("name", await alice.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Get, "/api/find?q=no%20such%20name!"), StringComparison.OrdinalIgnoreCase);
        await alice.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Get, "/api/find?q=%20");
        await alice.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Get, "/api/find");

        // Alice writes: a contact request, queued at once.
        var sent = await alice.PostAsync<MessageDto>("/api/messages", new SendRequest(bob.Handle, "hi bob"));
        Assert.Equal(bob.Handle, sent.Contact);
        Assert.Equal(alice.Handle, sent.From);
        Assert.Equal("outgoing", sent.Direction);
        Assert.Contains(sent.State, new[] { "queued", "stored", "delivered" });
        Assert.True(sent.Request);
        Assert.Equal("hi bob", sent.Text);
        Assert.Matches("^[0-9a-f]{32}$", sent.Id);
        Assert.Contains(await alice.GetAsync<List<ContactDto>>("/api/contacts"), c => c.Handle == bob.Handle && c.State == "requested");

        // Bob sees a request (not a contact), with the message and the safety number; it is unread.
        var request = await WaitForAsync(() => bob.GetAsync<List<RequestDto>>("/api/requests"), r => r.Count == 1, "bob has alice's request");
        var pending = Assert.Single(request);
        Assert.Equal(alice.Handle, pending.Contact.Handle);
        Assert.Equal("pending", pending.Contact.State);
        Assert.Equal("hi bob", Assert.Single(pending.Messages).Text);
        Assert.Matches("^[0-9]{60}$", pending.SafetyNumber);
        Assert.DoesNotContain(await bob.GetAsync<List<ContactDto>>("/api/contacts"), c => c.Handle == alice.Handle);
        var unread = Assert.Single(await bob.GetAsync<List<MessageDto>>("/api/unread"));
        Assert.Equal((sent.Id, "incoming", "received", true, true), (unread.Id, unread.Direction, unread.State, unread.Request, unread.Unread));
        Assert.Equal(alice.Handle, unread.From);

        // Both compute the same safety number.
        var bobsNumber = await bob.GetAsync<SafetyNumberDto>($"/api/safety-number/{ApiUser.Path(alice.Handle)}");
        var alicesNumber = await alice.GetAsync<SafetyNumberDto>("/api/safety-number/bob");
        Assert.Equal(alice.Handle, bobsNumber.Contact);
        Assert.Equal(bob.Handle, alicesNumber.Contact);
        Assert.Equal(pending.SafetyNumber, bobsNumber.SafetyNumber);
        Assert.Equal(bobsNumber.SafetyNumber, alicesNumber.SafetyNumber);

        // Bob accepts (accepting twice is harmless), reads: alice sees her message read.
        Assert.Equal("accepted", (await bob.PostAsync<ContactDto>($"/api/contacts/{ApiUser.Path(alice.Handle)}/accept")).State);
        Assert.Equal("accepted", (await bob.PostAsync<ContactDto>("/api/contacts/alice/accept")).State);
        Assert.Empty(await bob.GetAsync<List<RequestDto>>("/api/requests"));
        Assert.Contains(await bob.GetAsync<List<ContactDto>>("/api/contacts"), c => c.Handle == alice.Handle && c.State == "accepted");
        var history = Assert.Single(await bob.GetAsync<List<MessageDto>>("/api/messages/alice"));
        Assert.Equal((sent.Id, "incoming", "hi bob"), (history.Id, history.Direction, history.Text));
        Assert.Equal(1, (await bob.PostAsync<ReadDto>("/api/messages/alice/read")).Marked);
        Assert.Equal(0, (await bob.PostAsync<ReadDto>("/api/messages/alice/read")).Marked);
        Assert.Empty(await bob.GetAsync<List<MessageDto>>("/api/unread"));
        await WaitForAsync(() => alice.GetAsync<List<MessageDto>>("/api/messages/bob"), h => h.Single().State == "read", "alice sees her message read");

        // Bob answers, naming alice by her name; she has it, in causal order, and bob is her contact now.
        var answer = await bob.PostAsync<MessageDto>("/api/messages", new SendRequest("alice", "hi alice"));
        Assert.False(answer.Request);
        var both = await WaitForAsync(() => alice.GetAsync<List<MessageDto>>($"/api/messages/{ApiUser.Path(bob.Handle)}"), h => h.Count == 2, "alice has bob's answer");
        Assert.Equal(["hi bob", "hi alice"], both.Select(m => m.Text));
        Assert.True(both[1].Lamport > both[0].Lamport);
        Assert.Equal(("incoming", bob.Handle, true), (both[1].Direction, both[1].From, both[1].Unread));
        Assert.Equal("hi alice", Assert.Single(await alice.GetAsync<List<MessageDto>>("/api/messages/bob?limit=1")).Text);
        Assert.Contains(await alice.GetAsync<List<ContactDto>>("/api/contacts"), c => c.Handle == bob.Handle && c.State == "accepted");
        Assert.Contains(await alice.GetAsync<List<MessageDto>>("/api/unread"), m => m.Id == answer.Id);

        // A mailbox fetch on demand.
        var pass = await alice.PostAsync<MailboxPass>("/api/mailbox/fetch");
        Assert.True(pass.NodesAsked > 0 && pass.NodesAnswered > 0, $"{pass}");
    }

    [Fact]
    public async Task Alice_blocks_carol_whose_request_then_disappears()
    {
        var alice = network["alice"];
        var carol = network["carol"];
        await carol.PostAsync<MessageDto>("/api/messages", new SendRequest(alice.Handle, "buy my stuff"));
        await WaitForAsync(() => alice.GetAsync<List<RequestDto>>("/api/requests"), r => r.Any(q => q.Contact.Handle == carol.Handle), "alice has carol's request");

        var blocked = await alice.PostAsync<ContactDto>($"/api/contacts/{ApiUser.Path(carol.Handle)}/block");
        Assert.Equal((carol.Handle, "blocked"), (blocked.Handle, blocked.State));
        Assert.Equal(carol.Node.Chat!.Account.Id.ToString(), blocked.Account);
        Assert.DoesNotContain(await alice.GetAsync<List<RequestDto>>("/api/requests"), r => r.Contact.Handle == carol.Handle);
        Assert.Contains(await alice.GetAsync<List<ContactDto>>("/api/contacts"), c => c.Handle == carol.Handle && c.State == "blocked");
        Assert.Empty(await alice.GetAsync<List<MessageDto>>($"/api/messages/{ApiUser.Path(carol.Handle)}"));
        Assert.DoesNotContain(await alice.GetAsync<List<MessageDto>>("/api/unread"), m => m.Contact == carol.Handle);
        Assert.Contains("blocked", await alice.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Post, "/api/messages", JsonContent.Create(new SendRequest(carol.Handle, "no"))), StringComparison.Ordinal);

        // What carol sends later never shows.
        var later = await carol.PostAsync<MessageDto>("/api/messages", new SendRequest(alice.Handle, "hello again"));
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.DoesNotContain(await alice.GetAsync<List<MessageDto>>("/api/unread"), m => m.Id == later.Id);
        Assert.DoesNotContain(await alice.GetAsync<List<RequestDto>>("/api/requests"), r => r.Contact.Handle == carol.Handle);
    }

    [Fact]
    public async Task Refusals_are_json_errors_with_a_reason()
    {
        var dave = network["dave"];
        foreach (var (method, path) in new[]
        {
            (HttpMethod.Get, "/api/messages/nobody"),
            (HttpMethod.Post, "/api/messages/nobody/read"),
            (HttpMethod.Get, "/api/safety-number/nobody"),
            (HttpMethod.Post, "/api/contacts/nobody/accept"),
            (HttpMethod.Post, "/api/contacts/nobody%23aaaaaaaa/block"),
        })
        {
            Assert.Contains("not among your contacts", await dave.RefusedAsync(HttpStatusCode.BadRequest, method, path), StringComparison.Ordinal);
        }
        Assert.Contains("nobody called", await dave.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Post, "/api/messages", JsonContent.Create(new SendRequest("zed-nobody", "x"))), StringComparison.Ordinal);
        Assert.Contains("empty", await dave.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Post, "/api/messages", JsonContent.Create(new SendRequest("erin", " "))), StringComparison.Ordinal);
        Assert.Contains("you", await dave.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Post, "/api/messages", JsonContent.Create(new SendRequest(dave.Handle, "me"))), StringComparison.Ordinal);
        await dave.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Post, "/api/messages", JsonContent.Create(new { to = "erin" }));
        await dave.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Post, "/api/messages", JsonContent.Create(new { text = "to whom?" }));
        await dave.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Post, "/api/messages", new StringContent("{not json", Encoding.UTF8, "application/json"));
        await dave.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Post, "/api/messages");
        await dave.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Get, "/api/messages/erin?limit=many");
        await dave.RefusedAsync(HttpStatusCode.NotFound, HttpMethod.Get, "/api/nothing-here");
        await dave.RefusedAsync(HttpStatusCode.MethodNotAllowed, HttpMethod.Delete, "/api/status");
        await dave.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Get, "/api/events");
    }

    [Fact]
    public async Task A_node_without_identity_answers_409_to_every_chat_endpoint()
    {
        var blank = network.Blank;
        foreach (var (method, path, body) in ChatEndpoints)
        {
            var error = await blank.RefusedAsync(HttpStatusCode.Conflict, method, path, body is null ? null : JsonContent.Create(body));
            Assert.Contains("parley init", error, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task The_openapi_description_lists_every_endpoint_and_needs_no_token()
    {
        using var anonymous = new HttpClient { BaseAddress = network["alice"].Api.BaseAddress };
        using var document = JsonDocument.Parse(await anonymous.GetStringAsync("/openapi/v1.json"));
        var paths = document.RootElement.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(
            new[]
            {
                "/api/connections", "/api/contacts", "/api/contacts/add", "/api/contacts/{who}/accept", "/api/contacts/{who}/block",
                "/api/devices", "/api/devices/add", "/api/devices/link", "/api/devices/link/confirm", "/api/devices/{id}", "/api/files", "/api/files/limit", "/api/files/{id}",
                "/api/files/{id}/content", "/api/files/{id}/download", "/api/files/{id}/fetch", "/api/files/{id}/thumbnail", "/api/find", "/api/groups", "/api/groups/join",
                "/api/groups/{room}", "/api/groups/{room}/files", "/api/groups/{room}/history", "/api/groups/{room}/invite", "/api/groups/{room}/leave",
                "/api/groups/{room}/members/{who}/demote", "/api/groups/{room}/members/{who}/kick", "/api/groups/{room}/members/{who}/promote",
                "/api/groups/{room}/messages", "/api/groups/{room}/messages/{id}/delete", "/api/groups/{room}/messages/{id}/edit",
                "/api/groups/{room}/messages/{id}/react", "/api/groups/{room}/read", "/api/groups/{room}/rename", "/api/groups/{room}/requests/{who}/approve",
                "/api/groups/{room}/requests/{who}/deny", "/api/link", "/api/mailbox/fetch", "/api/messages",
                "/api/messages/{who}", "/api/messages/{who}/files", "/api/messages/{who}/read", "/api/messages/{who}/typing", "/api/messages/{who}/{id}/delete",
                "/api/messages/{who}/{id}/delivery", "/api/messages/{who}/{id}/edit", "/api/messages/{who}/{id}/react", "/api/presence", "/api/privacy", "/api/requests", "/api/routing-table",
                "/api/safety-number/{who}", "/api/status", "/api/unread",
            },
            paths.Order(StringComparer.Ordinal));
        Assert.True(document.RootElement.GetProperty("paths").GetProperty("/api/status").GetProperty("get").TryGetProperty("summary", out _));
    }

    /// <summary>
    /// The node serves a committed OpenAPI description instead of generating one (the generator costs every node memory
    /// it would rarely use): this builds the same endpoints with the generator and asserts the committed document is
    /// what it makes. After changing an endpoint, run this test with PARLEY_WRITE_OPENAPI=1 to rewrite the document.
    /// </summary>
    [Fact]
    public async Task The_served_openapi_description_is_the_one_the_endpoints_generate()
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { Args = [], ApplicationName = "Parley", EnvironmentName = Environments.Production });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        LocalApi.AddServices(builder.Services, NullLoggerFactory.Instance);
        builder.Services.AddOpenApi();
        // The generator also describes parameters (strings, numbers), which the API's own JSON context need not know.
        builder.Services.ConfigureHttpJsonOptions(options => options.SerializerOptions.TypeInfoResolverChain.Add(new DefaultJsonTypeInfoResolver()));
        await using var generator = builder.Build();
        LocalApi.MapEndpoints(generator, network["alice"].Node);
        generator.MapOpenApi(LocalApi.OpenApiPath);
        await generator.StartAsync();
        using var fromGenerator = new HttpClient { BaseAddress = new Uri(generator.Urls.First()) };
        var generated = WithoutServers(await fromGenerator.GetStringAsync(LocalApi.OpenApiPath));
        await generator.StopAsync();

        if (Environment.GetEnvironmentVariable("PARLEY_WRITE_OPENAPI") == "1")
        {
            await File.WriteAllTextAsync(Path.Combine(RepositoryRoot(), "src", "Parley.Node", "Api", "openapi.json"), generated + "\n");
        }
        using var anonymous = new HttpClient { BaseAddress = network["alice"].Api.BaseAddress };
        var served = WithoutServers(await anonymous.GetStringAsync(LocalApi.OpenApiPath));
        Assert.True(generated == served, "src/Parley.Node/Api/openapi.json is out of date: run this test with PARLEY_WRITE_OPENAPI=1 and rebuild");
    }

    /// <summary>The document in a stable form: indented, without the server address the generator takes from the request.</summary>
    private static string WithoutServers(string document)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(document)!.AsObject();
        node.Remove("servers");
        return node.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static string RepositoryRoot()
    {
        var folder = new DirectoryInfo(AppContext.BaseDirectory);
        while (folder is not null && !File.Exists(Path.Combine(folder.FullName, "Parley.slnx")))
        {
            folder = folder.Parent;
        }
        return folder?.FullName ?? throw new InvalidOperationException("Parley.slnx not found above the test's folder");
    }

    [Fact]
    public async Task The_web_ui_files_are_served_with_a_strict_content_security_policy()
    {
        var alice = network["alice"];
        using var anonymous = new HttpClient { BaseAddress = alice.Api.BaseAddress };
        foreach (var (path, type, contains) in new[]
        {
            ("/", "text/html", "<script type=\"module\" src=\"app.js\"></script>"),
            ("/index.html", "text/html", "id=\"compose\""),
            ("/app.js", "text/javascript", "/api/events"),
            ("/style.css", "text/css", "@media"),
            ("/icon.svg", "image/svg+xml", "<svg"),
        })
        {
            using var response = await anonymous.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(type, response.Content.Headers.ContentType?.MediaType);
            Assert.Contains(contains, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            var policy = string.Join(";", response.Headers.GetValues("Content-Security-Policy"));
            Assert.Contains("default-src 'self'", policy, StringComparison.Ordinal);
            Assert.Contains($"connect-src 'self' ws://127.0.0.1:{alice.Api.Port};", policy, StringComparison.Ordinal);
            Assert.Contains("frame-ancestors 'none'", policy, StringComparison.Ordinal);
            Assert.DoesNotContain("unsafe", policy, StringComparison.Ordinal);
            Assert.DoesNotContain("*", policy, StringComparison.Ordinal);
            Assert.Equal("DENY", Assert.Single(response.Headers.GetValues("X-Frame-Options")));
            Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        }
        foreach (var missing in new[] { "/missing.js", "/Parley.Node.dll", "/webui/app.js", "/readme.txt" })
        {
            using var response = await anonymous.GetAsync(missing);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
    }

    /// <summary>Every endpoint that needs the user's chat, with a body where it takes one.</summary>
    internal static readonly (HttpMethod Method, string Path, object? Body)[] ChatEndpoints =
    [
        (HttpMethod.Get, "/api/contacts", null),
        (HttpMethod.Get, "/api/requests", null),
        (HttpMethod.Post, "/api/contacts/bob/accept", null),
        (HttpMethod.Post, "/api/contacts/bob/block", null),
        (HttpMethod.Get, "/api/find?q=bob", null),
        (HttpMethod.Post, "/api/messages", new SendRequest("bob", "hi")),
        (HttpMethod.Get, "/api/messages/bob", null),
        (HttpMethod.Post, "/api/messages/bob/read", null),
        (HttpMethod.Get, "/api/unread", null),
        (HttpMethod.Get, "/api/safety-number/bob", null),
        (HttpMethod.Post, "/api/mailbox/fetch", null),
        (HttpMethod.Get, "/api/link", null),
        (HttpMethod.Post, "/api/contacts/add", new AddContactRequest("parley://contact/v1/bob/aaaaaaaa?sn=123451234512345123451234512345")),
    ];

    private static async Task<T> WaitForAsync<T>(Func<Task<T>> read, Func<T, bool> done, string what)
    {
        T value = default!;
        await LoopbackNetwork.WaitUntilAsync(async () => done(value = await read()), Patience, what);
        return value;
    }
}
