using System;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Text;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using TinyMlops.Contracts;
using TinyMlops.Ingestion;
using TinyMlops.Trainer.Data;
using Xunit;

namespace TinyMlops.Gateway.Tests;

/// <summary>The trainer's ingestion service against outsiders and other gateways (issue 9, points 9 and 11).</summary>
public class IngestionTests
{
    private static HttpClient Client(int port, string? bearer)
    {
        var c = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        if (bearer != null)
        {
            c.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
        }

        return c;
    }

    [Fact]
    public async Task Only_registered_gateways_may_file_only_their_own_records_and_a_filed_record_is_never_overwritten()
    {
        string dir = Harness.Temp("ingest-auth");
        int port = Harness.FreePort();
        string gateways = Path.Combine(dir, "gateways.json");
        string tokenA = GatewayCredentials.Issue(gateways, "gw-a"), tokenB = GatewayCredentials.Issue(gateways, "gw-b");
        Assert.False(SecretFile.IsExposed(gateways));
        Assert.DoesNotContain(tokenA, File.ReadAllText(gateways)); // only digests are kept
        WebApplication app = await Harness.StartIngestion(port, dir);
        try
        {
            IngestionStore store = app.Services.GetRequiredService<IngestionStore>();
            UplinkBatch Batch(string gateway, params UplinkRecord[] records)
            {
                var b = new UplinkBatch { GatewayId = gateway };
                b.Records.AddRange(records);
                return b;
            }

            // An outsider: no credential, a made-up one, or another gateway's id with its own token.
            foreach (string? bearer in new[] { null, "gw-a.not-the-token", "gw-c." + tokenA, tokenA })
            {
                using HttpClient outsider = Client(port, bearer);
                using HttpResponseMessage r = await outsider.PostAsJsonAsync("api/ingest", Batch("gw-a", HardeningTests.Record("node-1", 1, 1, 0.5f)));
                Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
            }

            using HttpClient a = Client(port, GatewayAuth.BearerValue("gw-a", tokenA));
            using HttpClient b = Client(port, GatewayAuth.BearerValue("gw-b", tokenB));
            using (HttpResponseMessage r = await b.PostAsJsonAsync("api/ingest", Batch("gw-a", HardeningTests.Record("node-1", 1, 1, 0.5f))))
            {
                Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode); // gw-b may not write as gw-a
            }

            Assert.Equal(0L, store.Count);

            // gw-b pre-claims the id gw-a's node will use: both are filed, neither blocks the other.
            Assert.Equal(1, (await Post(b, Batch("gw-b", HardeningTests.Record("node-1", 1, 1, 0.9f)))).Accepted);
            Assert.Equal(1, (await Post(a, Batch("gw-a", HardeningTests.Record("node-1", 1, 1, 0.5f, "misalignment")))).Accepted);
            string filedA = Path.Combine(store.RecordingsDirectory, "gw-a_node-1-1-1.csv");
            string original = File.ReadAllText(filedA);

            // The same id with other samples (and a label changed to healthy) does not replace what was filed.
            IngestResult overwrite = await Post(a, Batch("gw-a", HardeningTests.Record("node-1", 1, 1, 0.1f, "healthy")));
            Assert.Equal((0, 1), (overwrite.Accepted, overwrite.Rejected));
            Assert.Equal("node-1-1-1", Assert.Single(overwrite.Refused).Id);
            Assert.Equal(original, File.ReadAllText(filedA));

            // A genuine relabel (same samples) changes only the header.
            Assert.Equal(1, (await Post(a, Batch("gw-a", HardeningTests.Record("node-1", 1, 1, 0.5f, "bearing")))).Relabelled);
            string[] relabelled = File.ReadAllLines(filedA);
            Assert.Contains("label=bearing ", relabelled[0]);
            Assert.Equal(original.Split('\n')[1..].Where(l => l.Length > 0), relabelled[1..]);

            // Names that would change what a recording means, or where it is filed, are refused.
            UplinkRecord newline = HardeningTests.Record("node-1", 1, 2, 0.5f, "healthy\n# tinymlops-recording sample_rate_hz=1 label=x");
            UplinkRecord spaced = HardeningTests.Record("node-1", 1, 3, 0.5f, "healthy label=misalignment");
            UplinkRecord wfm = HardeningTests.Record("node-1", 1, 4, 0.5f);
            wfm.Id = "node-1-1-4.Wfm";
            UplinkRecord foreign = HardeningTests.Record("node-1", 1, 5, 0.5f);
            foreign.Id = "node-2-1-5"; // an id that is not this record's
            IngestResult names = await Post(a, Batch("gw-a", newline, spaced, wfm, foreign));
            Assert.Equal((0, 4), (names.Accepted, names.Rejected));

            // A null record is a bad request, not a server error.
            using (HttpResponseMessage r = await a.PostAsync("api/ingest", new StringContent("""{"gatewayId":"gw-a","records":[null]}""", Encoding.UTF8, "application/json")))
            {
                Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            }

            // What was filed still trains.
            Dataset data = DatasetLoader.Load(store.RecordingsDirectory);
            Assert.Equal(2, data.Recordings.Count);
            Assert.Equal(new[] { "bearing", "healthy" }, data.Recordings.Select(r => r.Label).OrderBy(l => l, StringComparer.Ordinal));
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task<IngestResult> Post(HttpClient c, UplinkBatch batch)
    {
        using HttpResponseMessage r = await c.PostAsJsonAsync("api/ingest", batch);
        r.EnsureSuccessStatusCode();
        return (await r.Content.ReadFromJsonAsync<IngestResult>())!;
    }

    [Fact]
    public void The_dataset_reader_refuses_names_the_writer_would_never_write()
    {
        string dir = Harness.Temp("names");
        try
        {
            File.WriteAllText(Path.Combine(dir, "a.csv"), "# tinymlops-recording sample_rate_hz=100 label=healthy label=misalignment\nx,y,z\n1,2,3\n");
            Assert.Contains("twice", Assert.Throws<InvalidDataException>(() => DatasetLoader.Load(dir)).Message);
            File.WriteAllText(Path.Combine(dir, "a.csv"), "# tinymlops-recording sample_rate_hz=100 label=-bad\nx,y,z\n1,2,3\n");
            Assert.Contains("label", Assert.Throws<InvalidDataException>(() => DatasetLoader.Load(dir)).Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Secret_files_are_owner_only_from_the_start()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        string dir = Harness.Temp("secrets");
        try
        {
            string nodes = Path.Combine(dir, "nodes.json");
            Contracts.NodeRegistry.AddOrReplace(nodes, "node-1", "pw", 1000);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(nodes));

            // Replacing a world-readable file leaves an owner-only one.
            string f = Path.Combine(dir, "node.cfg");
            File.WriteAllText(f, "old");
            File.SetUnixFileMode(f, (UnixFileMode)0b110_100_100);
            Assert.True(SecretFile.IsExposed(f));
            SecretFile.WriteAllText(f, "node.key=…");
            Assert.False(SecretFile.IsExposed(f));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
