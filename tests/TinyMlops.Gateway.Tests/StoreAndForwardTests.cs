using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net.Http.Json;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using TinyMlops.Contracts;
using TinyMlops.Gateway.Storage;
using TinyMlops.Gateway.Uplink;
using TinyMlops.Ingestion;
using TinyMlops.Trainer.Data;
using Xunit;

namespace TinyMlops.Gateway.Tests;

public class StoreAndForwardTests
{
    [Fact]
    public async Task While_the_trainer_is_down_events_wait_and_then_arrive_once_as_recordings_it_can_train_on()
    {
        int trainerPort = Harness.FreePort();
        await using RunningGateway g = await RunningGateway.Start($"http://127.0.0.1:{trainerPort}/");
        using IMqttClient node = await Harness.ConnectNode(g.MqttPort, "node-1");
        for (uint i = 0; i < 20; i++)
        {
            Assert.True((await Harness.Publish(node, "tinymlops/node-1/up/event", Harness.EventFrame(i, i % 2 == 0 ? 0.8f : -0.8f))).IsSuccess);
        }

        await Harness.Eventually(() => Task.FromResult(g.Get<GatewayStore>().Counts().ToForward), n => n == 20, "20 verified events waiting");
        await Harness.Eventually(() => g.Metric("tinymlops_gateway_uplink_failures_total"), n => n >= 2, "failed uplink attempts counted");
        Assert.Equal(20, await g.Metric("tinymlops_gateway_queue_to_forward"));

        // An operator labels one window before it goes up.
        string labelled = StoredEvent.MakeId("node-1", 1, 3);
        using (var response = await g.Http.PostAsJsonAsync("api/labels", new { eventId = labelled, label = "misalignment" }))
        {
            Assert.Equal(System.Net.HttpStatusCode.NoContent, response.StatusCode);
        }

        string store = Harness.Temp("ingestion");
        WebApplication trainer = await Harness.StartIngestion(trainerPort, store, credentialFile: g.CredentialFile);
        try
        {
            await Harness.Eventually(() => Task.FromResult(g.Get<GatewayStore>().Counts().ToForward), n => n == 0, "everything forwarded", 30);
            var ingestion = trainer.Services.GetRequiredService<IngestionStore>();
            Assert.Equal(20L, ingestion.Count);
            // The counter moves just after the rows are marked.
            await Harness.Eventually(() => g.Metric("tinymlops_gateway_uplink_forwarded_total"), n => n == 20, "20 counted as forwarded");

            // A redelivery (as when the trainer's answer is lost) files nothing new.
            IngestResult result = ingestion.Ingest(Resend(g, labelled));
            Assert.Equal((0, 1), (result.Accepted, result.Duplicates));
            Assert.Equal(20L, ingestion.Count);

            Dataset data = DatasetLoader.Load(ingestion.RecordingsDirectory);
            Assert.Equal(20, data.Recordings.Count);
            Assert.Equal(10, data.Recordings.Count(r => r.Label == "imbalance"));
            Assert.Single(data.Recordings, r => r.Label == "misalignment");
            Assert.All(data.Recordings, r => Assert.Equal(("node-1", 1000.0, 64), (r.Group, r.SampleRateHz, r.X.Length)));
        }
        finally
        {
            await trainer.StopAsync();
            await trainer.DisposeAsync();
            Directory.Delete(store, recursive: true);
        }
    }

    private static UplinkBatch Resend(RunningGateway g, string id)
    {
        using var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(g.Directory, "gateway.db")}");
        db.Open();
        using var c = db.CreateCommand();
        c.CommandText = "SELECT id, node, boot, seq, ts, received, frame, verdict_class, verdict_label, verdict_fault, verdict_probability, verifier_version, verified, label FROM events WHERE id = $id";
        c.Parameters.AddWithValue("$id", id);
        using var r = c.ExecuteReader();
        Assert.True(r.Read());
        var e = new StoredEvent(r.GetString(0), r.GetString(1), (uint)r.GetInt64(2), (uint)r.GetInt64(3), r.GetInt64(4), r.GetInt64(5), (byte[])r.GetValue(6));
        var v = new StoredVerdict(r.GetInt32(7), r.GetString(8), r.GetInt32(9) != 0, r.GetFloat(10), r.GetInt64(11), r.GetInt64(12));
        return new UplinkBatch { GatewayId = "gw-test", Records = { UplinkWorker.ToRecord(e, v, r.IsDBNull(13) ? null : r.GetString(13)) } };
    }

    [Fact]
    public async Task Forwarded_events_are_deleted_after_the_retention_and_events_not_yet_forwarded_never_are()
    {
        string dir = Harness.Temp("prune");
        try
        {
            await using var store = new GatewayStore(Path.Combine(dir, "gateway.db"));
            var verdict = new StoredVerdict(0, "healthy", false, 0.9f, 1, 0);
            for (uint i = 0; i < 8; i++)
            {
                long received = i < 6 ? 1_000 : 9_000; // six old, two recent
                Assert.Equal(AddResult.Added, await store.AddEventAsync(new StoredEvent($"n-{i}", "n", 1, i, i, received, Harness.EventFrame(i, 0.1f))));
            }

            store.SaveVerdicts(Enumerable.Range(0, 8).Where(i => i != 5).Select(i => ($"n-{i}", verdict)).ToList()); // n-5 unverified
            store.MarkForwarded(new[] { "n-0", "n-1", "n-2", "n-3", "n-6" }); // n-4 verified, not forwarded

            Assert.Equal(3, store.PruneForwarded(cutoffMs: 5_000, max: 3)); // a chunk at a time
            Assert.Equal(1, store.PruneForwarded(cutoffMs: 5_000, max: 3));
            Assert.Equal(0, store.PruneForwarded(cutoffMs: 5_000, max: 3));
            Assert.Equal((4L, 1L, 2L), store.Counts()); // n-4, n-5, n-6, n-7 remain: the recent forwarded one too
            Assert.Equal(new[] { "n-4", "n-7" }, store.PendingUplink(10).Select(p => p.Event.Id));
            Assert.Equal("n-5", Assert.Single(store.PendingVerification(10)).Id);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task A_full_store_is_reported_and_the_node_is_not_acknowledged()
    {
        string dir = Harness.Temp("full");
        try
        {
            await using (var store = new GatewayStore(Path.Combine(dir, "gateway.db"), maxPageCount: 16))
            {
                StorageFullException? full = null;
                int stored = 0;
                for (uint i = 0; i < 1000 && full == null; i++)
                {
                    try
                    {
                        await store.AddEventAsync(new StoredEvent($"n-{i}", "n", 1, i, 0, 0, Harness.EventFrame(i, 0.1f)));
                        stored++;
                    }
                    catch (StorageFullException e)
                    {
                        full = e;
                    }
                }

                Assert.NotNull(full);
                Assert.True(store.IsFull);
                Assert.Equal((long)stored, store.Counts().Events);

                // A verdict rewrites a row in place and still fits; that does not make room for events.
                store.SaveVerdicts([("n-0", new StoredVerdict(0, "normal", false, 0.9f, 1, 1))]);
                Assert.True(store.IsFull);
            }

            await using RunningGateway g = await RunningGateway.Start(tweak: s => s["Gateway:StoreMaxPages"] = "24");
            using IMqttClient node = await Harness.ConnectNode(g.MqttPort, "node-1");
            int acknowledged = 0;
            for (uint i = 0; i < 200 && node.IsConnected; i++)
            {
                try
                {
                    using var timeout = new System.Threading.CancellationTokenSource(TimeSpan.FromSeconds(5));
                    MqttClientPublishResult r = await node.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("tinymlops/node-1/up/event").WithPayload(Harness.EventFrame(i, 0.1f)).WithQualityOfServiceLevel(MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce).Build(), timeout.Token);
                    acknowledged += r.IsSuccess ? 1 : 0;
                }
                catch (Exception e) when (e is not Xunit.Sdk.XunitException)
                {
                    break; // the gateway closed the connection instead of acknowledging
                }
            }

            Assert.False(node.IsConnected);
            Assert.True(acknowledged > 0);
            Assert.True(await g.Metric("tinymlops_gateway_storage_full_total") >= 1);
            Assert.Equal(1, await g.Metric("tinymlops_gateway_storage_full"));
            // Everything acknowledged is stored.
            Assert.Equal((long)acknowledged, g.Get<GatewayStore>().Counts().Events);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
