from nanobanana import NanoBananaClient
client = NanoBananaClient(api_key='nk_live_xxxxxxxxxxxx', base_url='https://api.nanobanana.ai/v1')
result = client.edit_image(prompt='将背景改为海滩', image_url='https://example.com/photo.jpg')
print(f"编辑结果: {result['image_url']}")
