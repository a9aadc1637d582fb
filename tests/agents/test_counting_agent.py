from agents.counting import count_labels
from agents.topics import label_to_count


async def test_deltas_add_up_per_label() -> None:
    async with count_labels.test_context() as agent:
        await agent.put(3, key="heart:Risk of Heart Disease")
        await agent.put(2, key="heart:Risk of Heart Disease")
        await agent.put(1, key="heart:dead_letter")
        assert label_to_count["heart:Risk of Heart Disease"] == 5
        assert label_to_count["heart:dead_letter"] == 1
