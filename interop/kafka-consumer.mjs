// A consumer of the platform's events in another stack: kafkajs reads the topics, the CloudEvents SDK's Kafka
// binding turns each message into a CloudEvent. Connection from the environment, as the services take it:
// KAFKA_BOOTSTRAP_SERVERS, and for a secured broker KAFKA_SECURITY_PROTOCOL (SASL_PLAINTEXT, SASL_SSL or SSL),
// KAFKA_SASL_MECHANISM (SCRAM-SHA-256/512, PLAIN), KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, KAFKA_SSL_CA_LOCATION.
//
//   node kafka-consumer.mjs --topics poll,vote --types poll.created,vote.cast

import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { Kafka as KafkaBinding } from "cloudevents";
import kafkajs from "kafkajs";
import lz4 from "lz4js";
import { options, print, waitFor } from "./common.mjs";

const { CompressionCodecs, CompressionTypes, Kafka, logLevel } = kafkajs;

function connection(env) {
  const protocol = (env.KAFKA_SECURITY_PROTOCOL ?? "PLAINTEXT").toUpperCase();
  const config = { clientId: "interop-node", brokers: env.KAFKA_BOOTSTRAP_SERVERS.split(","), logLevel: logLevel.ERROR };
  if (protocol.endsWith("SSL")) {
    config.ssl = env.KAFKA_SSL_CA_LOCATION ? { ca: [readFileSync(env.KAFKA_SSL_CA_LOCATION, "utf8")] } : true;
  }
  if (protocol.startsWith("SASL")) {
    config.sasl = {
      mechanism: (env.KAFKA_SASL_MECHANISM ?? "SCRAM-SHA-512").toLowerCase(),
      username: env.KAFKA_SASL_USERNAME,
      password: env.KAFKA_SASL_PASSWORD,
    };
  }
  return config;
}

// The platform's producers compress with LZ4, which kafkajs decodes through a codec it is given (pure JS here).
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  compress: async (encoder) => Buffer.from(lz4.compress(encoder.buffer)),
  decompress: async (buffer) => Buffer.from(lz4.decompress(buffer)),
});

const { topics, types, timeout } = options();
const consumer = new Kafka(connection(process.env)).consumer({ groupId: `interop-node-${randomUUID()}` });
const wanted = waitFor(types, timeout);
await consumer.connect();
await consumer.subscribe({ topics, fromBeginning: true });
await consumer.run({
  eachMessage: async ({ message }) => {
    // kafkajs hands header values over as Buffers; the binding reads strings.
    const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, v?.toString()]));
    const event = KafkaBinding.toEvent({ key: message.key?.toString(), value: message.value, headers,
      timestamp: message.timestamp });
    print(event);
    wanted.saw(event.type);
  },
});
try {
  await wanted.finished;
} finally {
  await consumer.disconnect();
}
