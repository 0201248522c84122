// A consumer of the platform's events on RabbitMQ in another stack: amqplib reads the streams, the CloudEvents
// SDK parses each body (structured mode: the message's content type is application/cloudevents+json). A topic is
// TOPIC_PARTITIONS streams, <topic>.0 to <topic>.<n-1> (4 unless the platform says otherwise); a stream is read
// from its start with a prefetch and the x-stream-offset argument, as RabbitMQ streams require over AMQP 0-9-1.
// Connection from RABBITMQ_URL (credentials and vhost in the URL, amqps:// for TLS).
//
//   node amqp-consumer.mjs --topics poll,vote --types poll.created,vote.cast

import amqp from "amqplib";
import { CloudEvent } from "cloudevents";
import { options, print, waitFor } from "./common.mjs";

const { topics, types, timeout } = options();
const partitions = Number(process.env.TOPIC_PARTITIONS ?? 4);
const wanted = waitFor(types, timeout);
const connection = await amqp.connect(process.env.RABBITMQ_URL);
try {
  const channel = await connection.createChannel();
  await channel.prefetch(100);
  for (const topic of topics) {
    for (let partition = 0; partition < partitions; partition += 1) {
      const stream = `${topic}.${partition}`;
      await channel.assertQueue(stream, { durable: true, arguments: { "x-queue-type": "stream" } });
      await channel.consume(stream, (message) => {
        if (message.properties.contentType !== "application/cloudevents+json") {
          throw new Error(`${stream}: content type ${message.properties.contentType}, not a structured CloudEvent`);
        }
        const event = new CloudEvent(JSON.parse(message.content.toString()), false);
        print(event);
        wanted.saw(event.type);
        channel.ack(message);
      }, { noAck: false, arguments: { "x-stream-offset": "first" } });
    }
  }
  await wanted.finished;
} finally {
  await connection.close();
}
