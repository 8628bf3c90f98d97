using System;
using System.IO;
using TinyMlops.Gateway.Contracts;
using TinyMlops.Ingestion;

namespace TinyMlops.Cli;

/// <summary>
/// <c>tinymlops gateways add|revoke ID --store DIR [--out FILE]</c>: issues (or withdraws) a gateway's credential for
/// the trainer's ingestion service. The token is written owner-only to <c>--out</c> for the gateway's
/// <c>Gateway:Uplink:CredentialFile</c>, never printed; the trainer keeps only its digest in <c>{store}/gateways.json</c>.
/// </summary>
public static class GatewaysCommand
{
    /// <summary>Runs the command; <paramref name="args"/> start after <c>gateways</c>.</summary>
    public static int Run(string[] args)
    {
        if (args.Length < 2 || args[0] is not ("add" or "revoke"))
        {
            throw new UsageException("usage: tinymlops gateways add ID --store DIR [--out FILE] | gateways revoke ID --store DIR");
        }

        string id = args[1];
        Options o = Options.Parse(args[2..]);
        string store = o.Get("store") ?? throw new UsageException("--store (the ingestion service's store folder) is required");
        string registry = Path.Combine(store, "gateways.json");
        if (!RecordNames.IsValidId(id))
        {
            throw new UsageException($"gateway id '{id}' is not 1-64 letters, digits, '-', '_' or '.'");
        }

        if (args[0] == "revoke")
        {
            bool removed = GatewayCredentials.Revoke(registry, id);
            Console.WriteLine(removed ? $"revoked {id}: the trainer refuses its uploads from now on" : $"{id} was not registered");
            return removed ? 0 : 1;
        }

        string output = o.Get("out") ?? Path.Combine("out", "gateways", id + ".credential");
        string token = GatewayCredentials.Issue(registry, id);
        SecretFile.WriteAllText(output, token + "\n");
        Console.WriteLine($"issued a credential for {id} into {output} (owner-only); install it on the gateway and set Gateway:Uplink:CredentialFile to its path");
        return 0;
    }
}
