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
using TinyMlops.Contracts;
using TinyMlops.Ingestion;
using TinyMlops.Releases;
using TinyMlops.Trainer;
using TinyMlops.TrainerService;
using Xunit;

namespace TinyMlops.Registry.Tests;

/// <summary>
/// The registry on PostgreSQL, the shared store of several trainer instances, against a real server: the rollout
/// scenarios the SQLite registry passes; two registry handles and two trainer services on one database releasing a
/// model trained from the fan recording through the gate, allocating sequences under contention, and serving the
/// same releases; and a server that is not there named in a clear error.
/// </summary>
[Collection(TrainedModel.Collection)]
public sealed class PostgresRegistryTests(TrainedModel trained, PostgresServer pg) : IClassFixture<PostgresServer>
{
    [PostgresFact]
    public void Rollout_groups_advance_and_complete_on_postgresql() => RolloutTests.GroupsAdvance(RolloutTests.Seed(trained.Temp("pg-rollout"), pg.NewDatabase()));

    [PostgresFact]
    public void A_failing_group_aborts_on_postgresql() => RolloutTests.FailuresAbort(RolloutTests.Seed(trained.Temp("pg-abort"), pg.NewDatabase()));

    [PostgresFact]
    public void An_empty_group_is_passed_over_on_postgresql() => RolloutTests.EmptyGroupPassedOver(RolloutTests.Seed(trained.Temp("pg-empty"), pg.NewDatabase()));

    [PostgresFact]
    public async Task Two_trainer_instances_share_one_database_release_under_contention_and_serve_the_same_releases()
    {
        string location = pg.NewDatabase();
        using ModelRegistry a = ModelRegistry.Open(location), b = ModelRegistry.Open(location);
        Assert.StartsWith("postgresql://tinymlops@127.0.0.1:", a.Location);

        // Instance a releases the trained model through the gate; instance b sees the version, its lineage and its files.
        ReleaseOutcome first = Releasing.Release(new ReleaseRequest { ModelDirectory = trained.Model, Registry = a, Keys = trained.Keys, EvaluationData = TrainedModel.Data });
        RegisteredModel m = Assert.Single(b.Models(null));
        Assert.Equal((first.Model.Version, first.Model.DatasetHash, (string?)null), (m.Version, m.DatasetHash, m.Parent));
        string exported = trained.Temp("pg-export");
        b.Export(m.Version, exported);
        foreach (ReleaseArtifact artifact in m.Artifacts)
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(trained.Model, artifact.Name)), File.ReadAllBytes(Path.Combine(exported, artifact.Name)));
        }

        Assert.Equal(m.Version, b.AliasOf(m.BoardClass, ModelRegistry.Canary));

        // Both instances release at once: every sequence is allocated once, 2..21, with no gaps.
        StoredRelease Sign(ModelRegistry r) => r.Publish(m.Version, s => trained.Keys.Sign(new ReleaseManifest
        {
            Vendor = "acme", BoardClass = m.BoardClass, Sequence = s, Created = DateTimeOffset.UtcNow, MinGatewayVersion = "0.1.0", ModelVersion = m.Version, Artifacts = m.Artifacts,
        }), "contention test");
        StoredRelease[][] runs = await Task.WhenAll(
            Task.Run(() => Enumerable.Range(0, 10).Select(_ => Sign(a)).ToArray()),
            Task.Run(() => Enumerable.Range(0, 10).Select(_ => Sign(b)).ToArray()));
        Assert.Equal(Enumerable.Range(2, 20).Select(i => (long)i), runs.SelectMany(r => r).Select(r => r.Sequence).Order());
        Assert.Equal(21, Assert.Single(a.LatestReleases([m.BoardClass])).Sequence);
        Assert.True(b.IsReleased(m.Artifacts[0].Sha256, [m.BoardClass]));

        // Aliases, status and the gateway application's channel cross instances in order.
        b.SetAlias(m.Version, ModelRegistry.Champion, "promoted by b");
        Assert.Equal(m.Version, a.AliasOf(m.BoardClass, ModelRegistry.Champion));
        Assert.Equal(["canary", "champion"], a.AliasHistory(m.BoardClass).Select(h => h.Alias));
        foreach (string step in new[] { "fetched", "verified", "downloaded" })
        {
            (step == "verified" ? b : a).RecordStatus("gw-pg", new ReleaseStatusReport(m.BoardClass, 21, step, ""));
        }

        Assert.Equal(["fetched", "verified", "downloaded"], b.StatusOf(m.BoardClass, 21).Select(s => s.Step));
        byte[] bundle = RandomNumberGenerator.GetBytes(1000);
        StoredRelease app = b.PublishApp("linux-arm64", "0.2.0", bundle, (s, artifact) => trained.Keys.Sign(new GatewayAppManifest
        {
            Vendor = "acme", Runtime = "linux-arm64", Sequence = s, Created = DateTimeOffset.UtcNow, AppVersion = "0.2.0", Artifacts = [artifact],
        }));
        Assert.Equal(1, Assert.Single(a.LatestReleases([GatewayAppChannels.Of("linux-arm64")])).Sequence);
        Assert.Equal(bundle, a.Artifact(Convert.ToHexStringLower(SHA256.HashData(bundle))));
        Assert.Equal(app.Document, a.Release(app.BoardClass, 1)!.Document);

        // Two trainer services on the database: a gateway gets the same newest release and the same bytes from either.
        a.AssignGateway("gw-pg", [m.BoardClass]);
        string store = trained.Temp("pg-store");
        string token = GatewayCredentials.Issue(Path.Combine(store, "gateways.json"), "gw-pg");
        var services = new List<WebApplication>();
        try
        {
            foreach (int port in new[] { FreePort(), FreePort() })
            {
                WebApplication service = TrainerApp.Build([], c => c.AddInMemoryCollection(new Dictionary<string, string?>
                {
                    ["Urls"] = $"http://127.0.0.1:{port}",
                    ["Trainer:Registry"] = location,
                    ["Ingestion:StoreDirectory"] = store,
                    ["Logging:LogLevel:Default"] = "Warning",
                }));
                await service.StartAsync();
                services.Add(service);
                using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
                using var latest = new HttpRequestMessage(HttpMethod.Get, "/api/releases/latest");
                latest.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "gw-pg." + token);
                using JsonDocument answer = JsonDocument.Parse(await (await http.SendAsync(latest)).Content.ReadAsStringAsync());
                Assert.Equal(21, Assert.Single(answer.RootElement.GetProperty("releases").EnumerateArray()).GetProperty("sequence").GetInt64());
                using var artifact = new HttpRequestMessage(HttpMethod.Get, "/api/artifacts/" + m.Artifacts[0].Sha256);
                artifact.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "gw-pg." + token);
                Assert.Equal(File.ReadAllBytes(Path.Combine(trained.Model, m.Artifacts[0].Name)), await (await http.SendAsync(artifact)).Content.ReadAsByteArrayAsync());
            }
        }
        finally
        {
            foreach (WebApplication service in services)
            {
                await service.StopAsync();
                await service.DisposeAsync();
            }
        }
    }

    [PostgresFact]
    public void A_server_that_is_not_there_is_a_clear_error_naming_it()
    {
        int port = FreePort();
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => ModelRegistry.Open($"postgresql://trainer:secret@127.0.0.1:{port}/registry"));
        Assert.Contains($"postgresql://trainer@127.0.0.1:{port}/registry", e.Message);
        Assert.DoesNotContain("secret", e.Message);
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
