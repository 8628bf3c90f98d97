using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using TinyMlops.Ingestion;
using TinyMlops.Releases;
using TinyMlops.Trainer;
using TinyMlops.TrainerService;
using Xunit;

namespace TinyMlops.Registry.Tests;

[Collection(TrainedModel.Collection)]
public class TrainerServiceTests(TrainedModel trained)
{
    [Fact]
    public async Task Gateways_fetch_only_their_board_classes_releases_and_artifacts_resumably()
    {
        string registryDir = trained.Temp("service-registry"), store = trained.Temp("service-store");
        string gateways = Path.Combine(store, "gateways.json");
        string tokenA = GatewayCredentials.Issue(gateways, "gw-a"), tokenB = GatewayCredentials.Issue(gateways, "gw-b");
        StoredRelease first;
        using (ModelRegistry registry = ModelRegistry.Open(registryDir))
        {
            first = Releasing.Release(new ReleaseRequest { ModelDirectory = trained.Model, Registry = registry, Keys = trained.Keys, EvaluationData = TrainedModel.Data }).Release;
            registry.AssignGateway("gw-a", [3]);
            registry.AssignGateway("gw-b", [1, 2]);
        }

        int port = FreePort();
        await using WebApplication app = TrainerApp.Build([], c => c.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Urls"] = $"http://127.0.0.1:{port}",
            ["Trainer:RegistryDirectory"] = registryDir,
            ["Ingestion:StoreDirectory"] = store,
        }));
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        HttpRequestMessage As(string token, string gateway, string path)
        {
            var m = new HttpRequestMessage(HttpMethod.Get, path);
            m.Headers.Authorization = new AuthenticationHeaderValue("Bearer", gateway + "." + token);
            return m;
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/api/releases/latest")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(As(tokenB, "gw-a", "/api/releases/latest"))).StatusCode); // b's token is not a's

        // gw-b serves other board classes: it sees no release, and the class-3 release and its artifacts do not exist for it.
        using (JsonDocument b = JsonDocument.Parse(await (await http.SendAsync(As(tokenB, "gw-b", "/api/releases/latest"))).Content.ReadAsStringAsync()))
        {
            Assert.Equal(0, b.RootElement.GetProperty("releases").GetArrayLength());
        }

        Assert.Equal(HttpStatusCode.NotFound, (await http.SendAsync(As(tokenB, "gw-b", "/api/releases/3/1"))).StatusCode);
        ReleaseManifest manifest = new ReleaseVerifier(trained.Keys.RootPublicKey(), "acme", [3], new Version(1, 0, 0))
            .Verify(SignedRelease.Parse(first.Document), new ReleaseTrustState(0, 0), DateTimeOffset.UtcNow).Manifest;
        string detectorSha = manifest.Artifact("detector.tmlm")!.Sha256;
        Assert.Equal(HttpStatusCode.NotFound, (await http.SendAsync(As(tokenB, "gw-b", "/api/artifacts/" + detectorSha))).StatusCode);

        // gw-a: the newest release, its signed document, and each artifact in two ranged halves that join to the digest.
        using (JsonDocument a = JsonDocument.Parse(await (await http.SendAsync(As(tokenA, "gw-a", "/api/releases/latest"))).Content.ReadAsStringAsync()))
        {
            JsonElement only = Assert.Single(a.RootElement.GetProperty("releases").EnumerateArray());
            Assert.Equal((3, 1L), (only.GetProperty("boardClass").GetInt32(), only.GetProperty("sequence").GetInt64()));
        }

        HttpResponseMessage doc = await http.SendAsync(As(tokenA, "gw-a", "/api/releases/3/1"));
        Assert.Equal(first.Document, await doc.Content.ReadAsByteArrayAsync());
        foreach (ReleaseArtifact artifact in manifest.Artifacts)
        {
            long half = artifact.Size / 2;
            HttpRequestMessage head = As(tokenA, "gw-a", "/api/artifacts/" + artifact.Sha256);
            head.Headers.Range = new RangeHeaderValue(0, half - 1);
            HttpResponseMessage part1 = await http.SendAsync(head);
            Assert.Equal(HttpStatusCode.PartialContent, part1.StatusCode);
            HttpRequestMessage tail = As(tokenA, "gw-a", "/api/artifacts/" + artifact.Sha256);
            tail.Headers.Range = new RangeHeaderValue(half, null);
            HttpResponseMessage part2 = await http.SendAsync(tail);
            Assert.Equal(HttpStatusCode.PartialContent, part2.StatusCode);
            Assert.Equal($"\"{artifact.Sha256}\"", part2.Headers.ETag?.Tag);
            byte[] joined = [.. await part1.Content.ReadAsByteArrayAsync(), .. await part2.Content.ReadAsByteArrayAsync()];
            ReleaseVerifier.CheckArtifact(artifact, new MemoryStream(joined));
        }

        Assert.Equal(HttpStatusCode.NotFound, (await http.SendAsync(As(tokenA, "gw-a", "/api/artifacts/" + Convert.ToHexStringLower(SHA256.HashData([1]))))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.SendAsync(As(tokenA, "gw-a", "/api/artifacts/..%2F..%2Fregistry.db"))).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.SendAsync(As(tokenA, "gw-a", "/api/releases/latest?newerThan=three"))).StatusCode);

        // A long poll answers with the release published while it waited.
        Task<HttpResponseMessage> poll = http.SendAsync(As(tokenA, "gw-a", "/api/releases/latest?newerThan=3:1&wait=30"));
        using (ModelRegistry registry = ModelRegistry.Open(registryDir))
        {
            Releasing.Release(new ReleaseRequest { ModelDirectory = trained.Model, Registry = registry, Keys = trained.Keys });
        }

        using (JsonDocument p = JsonDocument.Parse(await (await poll).Content.ReadAsStringAsync()))
        {
            Assert.Equal(2, Assert.Single(p.RootElement.GetProperty("releases").EnumerateArray()).GetProperty("sequence").GetInt64());
        }

        await app.StopAsync();
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
