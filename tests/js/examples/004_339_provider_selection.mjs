import { InferenceClient } from "@huggingface/inference";

const client = new InferenceClient(process.env.HF_TOKEN);


await client.chatCompletion({
  model: "meta-llama/Llama-3.1-8B-Instruct",
  provider: "sambanova", 
  messages: [{ role: "user", content: "Hello!" }],
});


await client.chatCompletion({
  model: "meta-llama/Llama-3.1-8B-Instruct",
  
  
  messages: [{ role: "user", content: "Hello!" }],
});
