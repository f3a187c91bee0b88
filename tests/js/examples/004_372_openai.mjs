import { OpenAI } from "openai";

const client = new OpenAI({
  baseURL: process.env.HUBROUTE_URL + "/v1",
  apiKey: process.env.HF_TOKEN,
});

const completion = await client.chat.completions.create({
  model: "meta-llama/Llama-3.1-8B-Instruct",
  messages: [{ role: "user", content: "Hello!" }],
});

// added by the test, not in the seed: print the answer the seed leaves in `completion`
console.log(completion.choices[0].message.content);
