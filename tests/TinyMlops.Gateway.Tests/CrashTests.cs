using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading.Tasks;
using System.Threading;
using System;
using MQTTnet.Protocol;
using MQTTnet;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using TinyMlops.TestBed;
using TinyMlops.Contracts;
using TinyMlops.Gateway.Configuration;
using TinyMlops.Gateway.Storage;
using TinyMlops.Ingestion;
using Xunit.Abstractions;
using Xunit;

namespace TinyMlops.Gateway.Tests;

public class CrashTests(ITestOutputHelper output)
{
    private const int Nodes = 8;
    private const int EventsPerNode = 80;

    [Fact]
    public async Task After_a_SIGKILL_mid_stream_nothing_acknowledged_is_lost_and_nothing_is_filed_twice()
    {
        string dir = Harness.Temp("crash"), filed = Harness.Temp("crash-ingestion");
        int mqtt = Harness.FreePort(), http = Harness.FreePort(), trainerPort = Harness.FreePort();
        RunningGateway.Prepare(dir);
        Dictionary<string, string> passwords = Enumerable.Range(1, Nodes).ToDictionary(i => $"node-{i}", i => $"secret-{i}");
        NodeRegistry.Write(Path.Combine(dir, "nodes.json"), passwords, iterations: 1000);
        Dictionary<string, string?> settings = RunningGateway.Settings(dir, mqtt, http, $"http://127.0.0.1:{trainerPort}/");
        settings["Gateway:Uplink:BatchSize"] = "7"; // many small uplink batches, so the kill lands between post and mark

        // The kill lands while the trainer holds an answer: the batch is filed but the gateway never hears so.
        var answerHeld = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseAnswer = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int armed = 0;
        WebApplication trainer = await Harness.StartIngestion(trainerPort, filed, credentialFile: Path.Combine(dir, "trainer.credential"), configure: app => app.Use(async (context, next) =>
        {
            if (Volatile.Read(ref armed) == 0 || context.Request.Path != "/api/ingest" || Interlocked.Exchange(ref armed, 0) == 0)
            {
                await next(context);
                return;
            }

            Stream body = context.Response.Body;
            using var held = new MemoryStream();
            context.Response.Body = held;
            await next(context);
            answerHeld.TrySetResult();
            await releaseAnswer.Task;
            context.Response.Body = body;
            context.Abort(); // the gateway is gone by now; it gets no answer
        }));
        var acked = new ConcurrentDictionary<string, bool>();
        GatewayProcess? gateway = GatewayProcess.Start(settings, http);
        try
        {
            await gateway.WaitHealthy();
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            Task[] nodes = passwords.Select(p => Task.Run(() => Stream(p.Key, p.Value, mqtt, acked, stop.Token))).ToArray();

            await Harness.Eventually(() => Task.FromResult(acked.Count), n => n >= Nodes * EventsPerNode / 4, "a quarter of the stream acknowledged", 60);
            IngestionStore ingestion = trainer.Services.GetRequiredService<IngestionStore>();
            Volatile.Write(ref armed, 1);
            await answerHeld.Task.WaitAsync(TimeSpan.FromSeconds(30));
            long filedBeforeKill = ingestion.Count;
            gateway.Kill();
            releaseAnswer.TrySetResult();
            int ackedAtKill = acked.Count;
            output.WriteLine($"SIGKILL with {ackedAtKill} of {Nodes * EventsPerNode} events acknowledged and {filedBeforeKill} filed by the trainer");
            Assert.InRange(ackedAtKill, 1, (Nodes * EventsPerNode) - 1); // mid-stream, not before or after it

            gateway.Dispose();
            gateway = GatewayProcess.Start(settings, http);
            await gateway.WaitHealthy();
            await Task.WhenAll(nodes);
            Assert.Equal(Nodes * EventsPerNode, acked.Count);

            JsonElement health = await Harness.Eventually(
                async () => JsonDocument.Parse(await gateway.Http.GetStringAsync("health")).RootElement,
                h => h.GetProperty("toVerify").GetInt64() == 0 && h.GetProperty("toForward").GetInt64() == 0,
                "everything verified and forwarded after the restart", 60);
            output.WriteLine($"after restart: {health}");
            output.WriteLine($"the trainer recognised {ingestion.DuplicatesSinceStart} redelivered records");
            Assert.True(ingestion.DuplicatesSinceStart >= 1, "the batch whose answer was lost must have come again");
            gateway.Kill(); // a second hard stop: the store must still read back whole

            string[] stored = StoredIds(Path.Combine(dir, "gateway.db"), out int unverified, out int unforwarded);
            Assert.Equal((0, 0), (unverified, unforwarded));
            string[] missing = acked.Keys.Except(stored).ToArray();
            Assert.True(missing.Length == 0, $"acknowledged but not stored: {string.Join(", ", missing.Take(10))}");
            Assert.Equal(Nodes * EventsPerNode, stored.Length); // and nothing but what the nodes sent

            // Forwarded at least once, filed exactly once: one index row and one recording per event.
            string[] recordings = Directory.GetFiles(ingestion.RecordingsDirectory, "*.csv").Select(f => Path.GetFileNameWithoutExtension(f)["gw-test_".Length..]).ToArray();
            Assert.Equal(Nodes * EventsPerNode, ingestion.Count);
            Assert.Equal(stored.OrderBy(s => s, StringComparer.Ordinal), recordings.OrderBy(s => s, StringComparer.Ordinal));
        }
        catch (Exception) when (gateway != null)
        {
            output.WriteLine(gateway.Output);
            throw;
        }
        finally
        {
            releaseAnswer.TrySetResult();
            gateway?.Dispose();
            await trainer.StopAsync();
            await trainer.DisposeAsync();
            Directory.Delete(dir, recursive: true);
            Directory.Delete(filed, recursive: true);
        }
    }

    /// <summary>
    /// A node as the firmware behaves: QoS 1, the next window only after the PUBACK, and an unacknowledged window
    /// kept and sent again after reconnecting.
    /// </summary>
    private static async Task Stream(string node, string password, int port, ConcurrentDictionary<string, bool> acked, CancellationToken ct)
    {
        IMqttClient? client = null;
        uint sequence = 0;
        try
        {
            while (sequence < EventsPerNode)
            {
                ct.ThrowIfCancellationRequested();
                try
                {
                    client ??= await Harness.ConnectNode(port, node, password);
                    long timestamp = 1_700_000_000_000 + (sequence * 40L);
                    MqttApplicationMessage message = new MqttApplicationMessageBuilder().WithTopic($"tinymlops/{node}/up/event")
                        .WithPayload(Harness.EventFrame(sequence, sequence % 3 == 0 ? 0.7f : -0.7f, timestampMs: timestamp))
                        .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    timeout.CancelAfter(TimeSpan.FromSeconds(5));
                    MqttClientPublishResult result = await client.PublishAsync(message, timeout.Token);
                    if (!result.IsSuccess)
                    {
                        throw new Xunit.Sdk.XunitException($"{node} #{sequence} refused: {result.ReasonCode} {result.ReasonString}");
                    }

                    acked[StoredEvent.MakeId(node, 1, sequence)] = true;
                    sequence++;
                    await Task.Delay(40, ct);
                }
                catch (Exception e) when (e is not Xunit.Sdk.XunitException && !ct.IsCancellationRequested)
                {
                    client?.Dispose(); // the gateway went away mid-publish: keep the window, reconnect, send it again
                    client = null;
                    await Task.Delay(100, ct);
                }
            }
        }
        finally
        {
            client?.Dispose();
        }
    }

    private static string[] StoredIds(string database, out int unverified, out int unforwarded)
    {
        using var db = new SqliteConnection($"Data Source={database};Pooling=False");
        db.Open();
        using SqliteCommand c = db.CreateCommand();
        c.CommandText = "SELECT id, verdict_class IS NULL, forwarded FROM events";
        var ids = new List<string>();
        (unverified, unforwarded) = (0, 0);
        using SqliteDataReader r = c.ExecuteReader();
        while (r.Read())
        {
            ids.Add(r.GetString(0));
            unverified += r.GetInt32(1);
            unforwarded += r.GetInt32(2) == 0 ? 1 : 0;
        }

        return ids.ToArray();
    }
}
