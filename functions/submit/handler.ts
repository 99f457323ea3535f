// Placeholder: the real handler lands with the core pipeline.
export const handler = async (_event: unknown): Promise<unknown> => ({ statusCode: 501 });
